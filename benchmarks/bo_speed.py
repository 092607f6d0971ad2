"""Time per Bayesian-optimization iteration: acquisition optimizer "sampling" against the
default ("auto", which for a GP is "lbfgs"), on a 9-D analytic problem with about 100 points.

Same optimizer settings as :func:`invdes.baselines.run_bo` (GP, GP-Hedge, ``model_queue_size=1``).
Each run tells ``--n-initial`` random points, then times ``--iterations`` ask/evaluate/tell
steps (the GP fit and the acquisition optimization happen inside ``tell``). Run with
``OMP_NUM_THREADS=1`` on a shared machine:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bo_speed.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from skopt import Optimizer

DIM = 9
TARGET = 0.65


def objective(z: np.ndarray) -> np.ndarray:
    """A smooth multimodal 9-D stand-in for simulate(G(z)): values around 0.5-0.8."""
    z = np.atleast_2d(z)
    a = np.linspace(0.5, 1.5, DIM)
    return 0.65 + 0.08 * np.sin(3.0 * z @ a / DIM * 2) + 0.04 * np.sum((z - 0.3) ** 2, axis=1) / DIM


def rep(z: np.ndarray) -> np.ndarray:
    return np.abs(objective(z) - TARGET) / TARGET


def time_iterations(acq_optimizer: str, n_initial: int, iterations: int, seed: int):
    opt = Optimizer([(-1.0, 1.0)] * DIM, base_estimator="GP", acq_func="gp_hedge",
                    acq_optimizer=acq_optimizer, random_state=seed, n_initial_points=n_initial,
                    model_queue_size=1)
    x0 = np.random.default_rng(seed).uniform(-1, 1, size=(n_initial, DIM))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.tell(x0.tolist(), rep(x0).tolist())  # first GP fit + acquisition
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            x = opt.ask()
            opt.tell(x, float(rep(np.asarray(x))[0]))
            times.append(time.perf_counter() - t0)
    return np.asarray(times), float(min(opt.yi)), opt.acq_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-initial", type=int, default=90)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{DIM}-D problem, {args.n_initial} initial points, then {args.iterations} timed "
          f"iterations (GP + gp_hedge)")
    results = {}
    for name in ("sampling", "auto"):
        t, best, resolved = time_iterations(name, args.n_initial, args.iterations, args.seed)
        results[name] = t
        print(f"acq_optimizer={name!r:11} (runs {resolved!r:10}): {t.mean():7.3f} s/iteration "
              f"(median {np.median(t):.3f}, max {t.max():.3f}); best REP {100 * best:.3f} %")
    ratio = results["auto"].mean() / results["sampling"].mean()
    print(f"ratio auto/sampling: {ratio:.1f}x")


if __name__ == "__main__":
    main()
