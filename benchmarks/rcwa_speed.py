"""The judges' cost against the LAPACK eigen-solve of the same size, measured in one run.

For each data set's stack (the paper profile) and each judge (the study judge, m = 4, and the
certified judge of ``artifacts/paper/judge/certified.json``), on one BLAS thread:

1. the wall time of one image (every wavelength, both polarizations) of a data-set image;
2. the time of one complex eigen-decomposition (``numpy.linalg.eig``, LAPACK zgeev) of a
   random matrix of the size the RCWA decomposes (2N x 2N, N = (2m+1)^2), times the number of
   wavelengths: the floor that any implementation of this formulation pays;
3. their ratio (goal: at most 1.3).

Then the levers on the eigen-solve at the certified judge's largest truncation: two BLAS
threads inside one solve, single precision (LAPACK cgeev; the refinement back to double
precision would cost extra and is not implemented), and a circular truncation (the same m with
the orders |(p, q)| <= m only: a smaller matrix; its accuracy is not measured here).

Usage: ``python benchmarks/rcwa_speed.py [--repeats R]``; the output is also written to
``benchmarks/results/rcwa_speed.txt``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from invdes.config import DATASETS, get_profile
from invdes.data import load_dataset
from invdes.physics import judges
from invdes.study.common import generator_for

RESULTS = Path(__file__).resolve().parent / "results" / "rcwa_speed.txt"


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def eig_seconds(size: int, repeats: int, dtype=np.complex128, threads: int = 1) -> float:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))).astype(dtype)
    with threadpool_limits(limits=threads):
        return best_time(lambda: np.linalg.eig(a), repeats)


def judge_table(repeats: int) -> None:
    profile = get_profile("paper")
    generator = generator_for(profile)
    print(f"{'data set':<8} {'judge':<46} {'s/image':>8} {'eig floor':>9} {'ratio':>6}")
    for name in DATASETS:
        stack = profile.optics_for(name)
        image = generator.generate(load_dataset(name, profile, verify=0).z[:1])
        for judge in (judges.study_judge(stack), judges.load_certified("paper", name)):
            with threadpool_limits(limits=1):
                t_img = best_time(lambda j=judge, im=image, st=stack:
                                  j.absorption(im, st, n_jobs=1), repeats)
            floor = sum(stack.n_wavelengths * eig_seconds(2 * (2 * m + 1) ** 2, repeats)
                        for m in judge.harmonics)
            print(f"{name:<8} {judge.label:<46} {t_img:>8.2f} {floor:>9.2f} "
                  f"{t_img / floor:>6.2f}")


def levers(m: int, repeats: int) -> None:
    size = 2 * (2 * m + 1) ** 2
    p, q = np.meshgrid(np.arange(-m, m + 1), np.arange(-m, m + 1))
    circular = 2 * int((p**2 + q**2 <= m**2).sum())
    base = eig_seconds(size, repeats)
    rows = [("zgeev, 1 thread", base),
            ("zgeev, 2 threads", eig_seconds(size, repeats, threads=2)),
            ("cgeev (single precision), 1 thread", eig_seconds(size, repeats, np.complex64)),
            (f"circular truncation ({circular} x {circular}), zgeev, 1 thread",
             eig_seconds(circular, repeats))]
    print(f"\nlevers on one eigen-solve at m = {m} ({size} x {size}):")
    for label, sec in rows:
        print(f"  {label:<52} {sec:7.3f} s   {sec / base:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    buf = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, s):
            sys.__stdout__.write(s)
            return buf.write(s)

    with redirect_stdout(Tee()):
        print(f"# benchmarks/rcwa_speed.py, {time.strftime('%Y-%m-%d %H:%M')}, one BLAS thread "
              "unless stated; times are the best of", args.repeats)
        judge_table(args.repeats)
        largest = max(max(judges.load_certified("paper", n).harmonics) for n in DATASETS)
        levers(largest, args.repeats)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(buf.getvalue())


if __name__ == "__main__":
    main()
