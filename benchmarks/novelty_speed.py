"""Speed of the novelty filter: distance of candidate designs to their nearest training image.

The composed designer checks every block of ranked proposals against all training images
(10,000 in the paper profile), so this distance is most of its "surrogate" time. Measured in
one run on random binary images of the paper's sizes:
- the baseline: one broadcast XOR of every word of a block of candidates against a chunk of
  references, then a popcount and a sum over words (what ``invdes.inverse.novelty`` did before);
- ``novelty.nearest_distance``: the same distances accumulated one 64-bit word at a time.
Both give the same integers (checked); the ratio is printed per image size.

Usage: ``python benchmarks/novelty_speed.py [--candidates 256] [--references 10000]
[--repeats 3]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def broadcast_nearest(candidates, reference, block: int = 64, chunk: int = 2048) -> np.ndarray:
    """The baseline: (block, chunk, words) XOR temporaries."""
    out = np.empty(len(candidates.words), np.int64)
    for i in range(0, len(candidates.words), block):
        part = candidates.words[i : i + block]
        best = np.full(len(part), np.iinfo(np.int64).max)
        for j in range(0, len(reference.words), chunk):
            ref = reference.words[j : j + chunk]
            dist = np.bitwise_count(part[:, None, :] ^ ref[None, :, :]).sum(axis=2)
            best = np.minimum(best, dist.min(axis=1))
        out[i : i + block] = best
    return out / candidates.n_pixels


def best_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=256)
    parser.add_argument("--references", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from invdes.inverse import novelty as nv

    rng = np.random.default_rng(0)
    for side, name in ((96, "Data-I"), (64, "Data-II")):
        ref = nv.pack(rng.integers(0, 2, (args.references, side, side)).astype(np.uint8))
        cand = nv.pack(rng.integers(0, 2, (args.candidates, side, side)).astype(np.uint8))
        t_base, d_base = best_time(lambda: broadcast_nearest(cand, ref), args.repeats)  # noqa: B023
        t_new, d_new = best_time(lambda: nv.nearest_distance(cand, ref), args.repeats)  # noqa: B023
        if not np.array_equal(d_base, d_new):
            raise SystemExit(f"{name}: the two implementations disagree")
        print(f"{name} {side}x{side}, {args.candidates} candidates x {args.references} training "
              f"images: baseline (broadcast XOR) {t_base:.3f} s, nearest_distance {t_new:.3f} s "
              f"({t_base / t_new:.2f}x faster), best of {args.repeats}", flush=True)


if __name__ == "__main__":
    main()
