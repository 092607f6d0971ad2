"""Two-phase microstructures from Gaussian random fields, and their statistics.

An image is a binary array (0 = majority phase, 1 = minority phase). White noise is smoothed by a
Gaussian filter of standard deviation ``feature_size_px`` (in Fourier space, so the field is
periodic), then thresholded at the quantile that gives the image *exactly* its volume fraction
(``round(vf * size**2)`` pixels of phase 1). Non-periodic images are cut from a field twice as
large.

Statistics (all vectorized over a batch of shape (n, h, w)):

- :func:`volume_fraction`          (n,) fraction of phase-1 pixels
- :func:`two_point_correlation`    (n, r) radially averaged S2(r) = P(x and x + r both phase 1)
- :func:`chord_lengths`            1-D array of phase run lengths (px) along rows and columns
"""

from __future__ import annotations

import numpy as np

from invdes.config import MicrostructureConfig

_VF_CLIP = (0.05, 0.95)


def _check_images(images: np.ndarray, *, binary: bool = True) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w) or (h, w); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("images is empty")
    if binary and not np.isin(arr, (0, 1)).all():
        raise ValueError("images must be binary (values 0 and 1 only)")
    return arr


def gaussian_random_field(
    n: int, size: int, feature_size_px: float, *, periodic: bool = True, seed=None
) -> np.ndarray:
    """Smoothed white noise, shape (n, size, size), float32, zero mean and unit variance per image.

    ``feature_size_px``: standard deviation (pixels) of the Gaussian smoothing kernel.
    """
    if n < 1 or size < 2:
        raise ValueError(f"need n >= 1 and size >= 2; got n={n}, size={size}")
    if not feature_size_px > 0:
        raise ValueError(f"feature_size_px must be positive; got {feature_size_px}")
    rng = np.random.default_rng(seed)
    side = size if periodic else 2 * size
    ky = np.fft.fftfreq(side)
    kx = np.fft.rfftfreq(side)
    kernel = np.exp(-2.0 * (np.pi * feature_size_px) ** 2 * (ky[:, None] ** 2 + kx[None, :] ** 2))
    kernel = kernel.astype(np.complex64)
    out = np.empty((n, size, size), dtype=np.float32)
    chunk = max(1, 2**22 // (side * side))  # bounded memory: about 4 M complex values per chunk
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        noise = rng.standard_normal((m, side, side), dtype=np.float32)
        field_ = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(side, side))[:, :size, :size]
        field_ -= field_.mean(axis=(1, 2), keepdims=True)
        field_ /= field_.std(axis=(1, 2), keepdims=True) + 1e-12
        out[start : start + m] = field_
    return out


def threshold_to_volume_fraction(fields: np.ndarray, volume_fractions) -> np.ndarray:
    """Binary images (uint8) whose phase 1 is the largest ``round(vf * h * w)`` field values."""
    fields = np.asarray(fields)
    if fields.ndim == 2:
        fields = fields[None]
    if fields.ndim != 3 or fields.size == 0:
        raise ValueError(f"fields must have shape (n, h, w) or (h, w); got shape {fields.shape}")
    n, h, w = fields.shape
    vf_in = np.asarray(volume_fractions, dtype=float)
    if vf_in.ndim > 1 or vf_in.size not in (1, n):
        raise ValueError(
            f"volume_fractions must be a scalar or have shape ({n},); got shape {vf_in.shape}"
        )
    vf = np.broadcast_to(vf_in.reshape(-1), (n,))
    if np.any((vf < 0) | (vf > 1)) or not np.all(np.isfinite(vf)):
        raise ValueError("volume fractions must lie in [0, 1]")
    counts = np.rint(vf * h * w).astype(int)
    flat = fields.reshape(n, -1)
    out = np.zeros(flat.shape, dtype=np.uint8)
    for i in range(n):  # argpartition: O(h*w) per image, exact count even with ties
        if counts[i] > 0:
            out[i, np.argpartition(-flat[i], counts[i] - 1)[: counts[i]]] = 1
    return out.reshape(n, h, w)


def generate(n: int, config: MicrostructureConfig | None = None, *, seed=None) -> np.ndarray:
    """``n`` binary microstructures of shape (n, size, size), uint8, reproducible with ``seed``."""
    config = config or MicrostructureConfig()
    rng = np.random.default_rng(seed)
    vf = rng.normal(config.volume_fraction, config.volume_fraction_std, size=n).clip(*_VF_CLIP)
    fields = gaussian_random_field(
        n, config.size, config.feature_size_px, periodic=config.periodic, seed=rng
    )
    return threshold_to_volume_fraction(fields, vf)


def volume_fraction(images: np.ndarray) -> np.ndarray:
    """Fraction of phase-1 pixels per image, shape (n,)."""
    arr = _check_images(images)
    return arr.reshape(arr.shape[0], -1).mean(axis=1)


def two_point_correlation(images: np.ndarray, max_radius: int | None = None) -> np.ndarray:
    """Radially averaged periodic two-point correlation S2(r), shape (n, max_radius + 1).

    S2(r) is the probability that two pixels a distance r apart (rounded to whole pixels) are
    both phase 1; S2(0) is the volume fraction and S2 tends to vf**2 for uncorrelated distances.
    Computed with FFTs (periodic boundary).
    """
    arr = _check_images(images).astype(np.float64)
    n, h, w = arr.shape
    if max_radius is None:
        max_radius = min(h, w) // 2
    largest = int(np.rint(np.hypot(h // 2, w // 2)))
    if not 0 <= int(max_radius) <= largest:
        raise ValueError(f"max_radius must lie in [0, {largest}] for {h}x{w} images; "
                         f"got {max_radius}")
    max_radius = int(max_radius)
    f = np.fft.rfft2(arr)
    auto = np.fft.irfft2(f * np.conj(f), s=(h, w)) / (h * w)  # (n, h, w)
    dy = np.minimum(np.arange(h), h - np.arange(h))
    dx = np.minimum(np.arange(w), w - np.arange(w))
    r = np.rint(np.hypot(dy[:, None], dx[None, :])).astype(int)
    mask = r <= max_radius
    counts = np.bincount(r[mask], minlength=max_radius + 1)
    out = np.empty((n, max_radius + 1))
    for i in range(n):
        out[i] = np.bincount(r[mask], weights=auto[i][mask], minlength=max_radius + 1) / counts
    return out


def _runs_1d(rows: np.ndarray, phase: int) -> np.ndarray:
    """Lengths of maximal runs of ``phase`` along the last axis of a 2-D array (non-periodic)."""
    x = (rows == phase).astype(np.int8)
    padded = np.pad(x, ((0, 0), (1, 1)))
    d = np.diff(padded, axis=1)
    starts = np.nonzero(d == 1)
    ends = np.nonzero(d == -1)
    return ends[1] - starts[1]


def chord_lengths(images: np.ndarray, phase: int = 1) -> np.ndarray:
    """All chord lengths (px) of ``phase`` along rows and columns of every image, 1-D int array.

    Chords touching the image border are counted as cut (not wrapped).
    """
    arr = _check_images(images)
    if phase not in (0, 1):
        raise ValueError(f"phase must be 0 or 1; got {phase}")
    n, h, w = arr.shape
    rows = _runs_1d(arr.reshape(n * h, w), phase)
    cols = _runs_1d(np.transpose(arr, (0, 2, 1)).reshape(n * w, h), phase)
    return np.concatenate([rows, cols])


def mean_chord_length(images: np.ndarray, phase: int = 1) -> float:
    """Mean chord length (px) of ``phase``."""
    chords = chord_lengths(images, phase)
    return float(chords.mean()) if chords.size else 0.0


# ---------------------------------------------------------------------------- binary images

#: Latents per call of ``generator.generate`` in :func:`generate_images`.
GENERATE_BATCH = 256


def pack_images(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Bit-pack binary images (n, h, w) -> (packed (n, ceil(h*w/8)) uint8, (h, w)).

    ``np.packbits`` over each flattened image (big-endian bit order); exact inverse:
    :func:`unpack_images`.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w); got shape {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError("images must be binary (values 0 and 1 only)")
    n, h, w = x.shape
    return np.packbits(x.reshape(n, h * w).astype(np.uint8), axis=1), (h, w)


def unpack_images(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`pack_images`: (n, nbytes) uint8 -> (n, h, w) uint8 of 0/1."""
    packed = np.asarray(packed, dtype=np.uint8)
    h, w = (int(v) for v in shape)
    if packed.ndim != 2 or packed.shape[1] != (h * w + 7) // 8:
        raise ValueError(
            f"packed images must have shape (n, {(h * w + 7) // 8}) for images {h}x{w}; "
            f"got {packed.shape}"
        )
    flat = np.unpackbits(packed, axis=1, count=h * w)
    return flat.reshape(packed.shape[0], h, w)


def generate_images(generator, z: np.ndarray, side: int) -> np.ndarray:
    """Images of latents ``z`` (n, s*s) with ``generator.generate``, batched: (n, side, side)
    uint8 of 0/1. ValueError when the generator returns another shape or non-binary values."""
    z = np.asarray(z, dtype=np.float32)
    out = np.empty((z.shape[0], side, side), dtype=np.uint8)
    for a in range(0, z.shape[0], GENERATE_BATCH):
        b = min(a + GENERATE_BATCH, z.shape[0])
        x = np.asarray(generator.generate(z[a:b]))
        if x.shape != (b - a, side, side):
            raise ValueError(
                f"generator returned images of shape {x.shape}; expected {(b - a, side, side)} "
                f"for latents of shape {z[a:b].shape}"
            )
        if not np.isin(x, (0, 1)).all():
            raise ValueError("generator returned non-binary images (values other than 0 and 1)")
        out[a:b] = x
    return out
