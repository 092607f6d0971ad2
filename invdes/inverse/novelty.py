"""Novelty and diversity of binary designs: Hamming distances as a fraction of the pixels.

A design is *new* when its distance to every training image is at least ``delta``, the median
nearest-neighbour distance between training images (:func:`median_nn_distance`), and the
designs of one answer are *different* when every pair is at least ``delta / 2`` apart.
Images are bit-packed into uint64 words, so one distance costs ``h * w / 64`` popcounts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PackedImages", "pack", "nearest_distance", "cross_distance", "pairwise_distance",
           "median_nn_distance", "greedy_diverse"]


class PackedImages:
    """Binary images (n, h, w) packed row-wise into ``words`` (n, ceil(h*w/64)) uint64."""

    def __init__(self, words: np.ndarray, n_pixels: int):
        self.words = words
        self.n_pixels = int(n_pixels)

    def __len__(self) -> int:
        return int(self.words.shape[0])

    def __getitem__(self, index) -> PackedImages:
        return PackedImages(self.words[np.atleast_1d(np.arange(len(self))[index])],
                            self.n_pixels)


def pack(images) -> PackedImages:
    """Bit-pack binary images (n, h, w) (values 0/1) for fast Hamming distances."""
    x = np.asarray(images)
    if x.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w); got {x.shape}")
    flat = (x.reshape(len(x), -1) != 0)
    n_pixels = flat.shape[1]
    pad = (-n_pixels) % 64
    if pad:
        flat = np.concatenate([flat, np.zeros((len(x), pad), bool)], axis=1)
    bytes_ = np.packbits(flat, axis=1)  # (n, n_bits/8) uint8
    return PackedImages(np.ascontiguousarray(bytes_).view(np.uint64), n_pixels)


def _distances(a: PackedImages, b: PackedImages) -> np.ndarray:
    """(len(a), len(b)) Hamming distances in pixels."""
    return np.bitwise_count(a.words[:, None, :] ^ b.words[None, :, :]).sum(axis=2)


def _word_by_word(a_words: np.ndarray, b_words_t: np.ndarray, n_pixels: int) -> np.ndarray:
    """(len(a), n_b) Hamming distances in pixels between packed images ``a_words`` (n_a, words)
    and ``b_words_t`` (words, n_b), the transposed words of the others, accumulated one 64-bit
    word at a time so that every temporary is (n_a, n_b), small enough to stay in cache."""
    shape = (a_words.shape[0], b_words_t.shape[1])
    dist = np.zeros(shape, np.uint16 if n_pixels < 2**16 else np.uint32)
    xor = np.empty(shape, np.uint64)
    ones = np.empty(shape, np.uint8)
    for w in range(a_words.shape[1]):
        np.bitwise_xor(a_words[:, w, None], b_words_t[w][None, :], out=xor)
        np.bitwise_count(xor, out=ones)
        dist += ones
    return dist


def nearest_distance(candidates: PackedImages, reference: PackedImages, *,
                     block: int = 256, chunk: int = 2048) -> np.ndarray:
    """(n,) distance of each candidate to its nearest reference image, as a fraction of the
    pixels (0: a copy of a reference image). Works on ``block`` candidates against ``chunk``
    references at a time (``benchmarks/novelty_speed.py``: about 2.5x faster than one
    broadcast XOR over all words)."""
    if candidates.n_pixels != reference.n_pixels:
        raise ValueError(f"image sizes differ: {candidates.n_pixels} vs {reference.n_pixels} "
                         "pixels")
    ref_t = np.ascontiguousarray(reference.words.T)  # (words, n_ref)
    out = np.empty(len(candidates), np.int64)
    for i in range(0, len(candidates), block):
        part = candidates.words[i : i + block]
        best = np.full(len(part), np.iinfo(np.int64).max)
        for j in range(0, ref_t.shape[1], chunk):
            dist = _word_by_word(part, ref_t[:, j : j + chunk], candidates.n_pixels)
            best = np.minimum(best, dist.min(axis=1))
        out[i : i + block] = best
    return out / candidates.n_pixels


def cross_distance(a: PackedImages, b: PackedImages) -> np.ndarray:
    """(len(a), len(b)) distances between the images of ``a`` and ``b``, fractions of the
    pixels."""
    return _distances(a, b) / a.n_pixels


def pairwise_distance(images: PackedImages) -> np.ndarray:
    """(n, n) distances between the images, as fractions of the pixels."""
    return _distances(images, images) / images.n_pixels


def median_nn_distance(images: PackedImages, *, n_probe: int = 500, seed: int = 0) -> float:
    """``delta``: the median, over ``n_probe`` training images drawn at random (seeded), of the
    distance to the nearest *other* training image (fraction of the pixels)."""
    n = len(images)
    if n < 2:
        raise ValueError("the median nearest-neighbour distance needs at least 2 images")
    probe = np.random.default_rng(seed).choice(n, size=min(n_probe, n), replace=False)
    dists = np.empty(len(probe))
    for k, i in enumerate(probe):
        d = _distances(images[[i]], images)[0].astype(np.float64)
        d[i] = np.inf
        dists[k] = d.min()
    return float(np.median(dists) / images.n_pixels)


def greedy_diverse(order, images: PackedImages, min_distance: float, n_max: int,
                   chosen: PackedImages | None = None) -> list[int]:
    """Walk ``order`` (indices into ``images``, best first) and keep each image that is at least
    ``min_distance`` (fraction of pixels) from every image kept so far and from ``chosen``;
    stop at ``n_max`` kept. Returns the kept indices in walking order."""
    kept: list[int] = []
    kept_words = [] if chosen is None else list(chosen.words)
    limit = min_distance * images.n_pixels
    for i in order:
        if len(kept) >= n_max:
            break
        if kept_words:
            d = np.bitwise_count(np.asarray(kept_words) ^ images.words[i][None, :]).sum(axis=1)
            if d.min() < limit:
                continue
        kept.append(int(i))
        kept_words.append(images.words[i])
    return kept
