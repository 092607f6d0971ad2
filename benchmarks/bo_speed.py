"""Time per Bayesian-optimization iteration for the GP settings of
:func:`invdes.inverse.baselines.run_bo`.

Variants, each on the same 9-D analytic problem with the same ``--n-initial`` random points told
first (the paper's BO has 250 initial points and reaches 650):

- ``skopt lbfgs``: scikit-optimize's defaults ("auto" acquisition optimizer = L-BFGS polish of
  the best of 10,000 random candidates; GP refit with 2 random restarts);
- ``skopt sampling``: the 10,000 random candidates only;
- ``fast-variance``: + :class:`invdes.inverse.bo_gp.FastVarianceGP` (BLAS predictive variance);
- ``fast + warm``: + the refit warm-started from the last hyperparameters, no random restarts;
- ``fast+warm lbfgs``: the same GP with scikit-optimize's default acquisition optimizer.

Each iteration is one ask / evaluate / tell (the GP refit and the acquisition scan happen in
``tell``). ``--quality`` also runs a short BO per variant and seed and prints the best REP
reached, to show the cheaper GP does not find worse designs on this problem. Run with
``OMP_NUM_THREADS=1`` on a shared machine:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bo_speed.py [--n-initial 250] [--quality]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from skopt import Optimizer

from invdes.inverse import bo_gp

DIM = 9
TARGET = 0.65
VARIANTS = {  # name: (acq_optimizer, fast variance, gp restarts, warm start)
    "skopt lbfgs": ("lbfgs", False, 2, False),
    "skopt sampling": ("sampling", False, 2, False),
    "fast-variance": ("sampling", True, 2, False),
    "fast + warm": ("sampling", True, 0, True),
    "fast+warm lbfgs": ("lbfgs", True, 0, True),
}


def objective(z: np.ndarray) -> np.ndarray:
    """A smooth multimodal 9-D stand-in for simulate(G(z)): values around 0.5-0.8."""
    z = np.atleast_2d(z)
    a = np.linspace(0.5, 1.5, DIM)
    return 0.65 + 0.08 * np.sin(3.0 * z @ a / DIM * 2) + 0.04 * np.sum((z - 0.3) ** 2, axis=1) / DIM


def rep(z: np.ndarray) -> np.ndarray:
    return np.abs(objective(z) - TARGET) / TARGET


def run(variant: str, n_initial: int, iterations: int, seed: int):
    """(seconds per timed iteration, best REP) of one BO run."""
    acq, fast, restarts, warm = VARIANTS[variant]
    opt = Optimizer([(-1.0, 1.0)] * DIM, base_estimator="GP", acq_func="gp_hedge",
                    acq_optimizer=acq, random_state=seed, n_initial_points=n_initial,
                    model_queue_size=1)
    if fast:
        bo_gp.use_fast_gp(opt, restarts)
    x0 = np.random.default_rng(seed).uniform(-1, 1, size=(n_initial, DIM))
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.tell(x0.tolist(), rep(x0).tolist())  # first GP fit + acquisition
        if warm:
            bo_gp.warm_start(opt)
        for _ in range(iterations):
            t0 = time.perf_counter()
            x = opt.ask()
            opt.tell(x, float(rep(np.asarray(x))[0]))
            if warm:
                bo_gp.warm_start(opt)
            times.append(time.perf_counter() - t0)
    return np.asarray(times), float(min(opt.yi))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-initial", type=int, default=250)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", action="store_true",
                        help="also: best REP after 20 + 60 evaluations, 3 seeds per variant")
    args = parser.parse_args()
    print(f"{DIM}-D problem, {args.n_initial} points told, then {args.iterations} timed "
          "iterations (GP + gp_hedge)")
    mean = {}
    for name in VARIANTS:
        t, _ = run(name, args.n_initial, args.iterations, args.seed)
        mean[name] = t.mean()
        print(f"{name:15}: {t.mean():7.3f} s/iteration (median {np.median(t):.3f}, "
              f"max {t.max():.3f}); {mean['skopt lbfgs'] / t.mean():5.1f}x faster than "
              "skopt lbfgs")
    if args.quality:
        print("best REP (%) after 20 random + 60 BO evaluations, seeds 0-2:")
        for name in VARIANTS:
            best = [run(name, 20, 60, s)[1] for s in range(3)]
            print(f"{name:15}: " + ", ".join(f"{100 * b:.4f}" for b in best))


if __name__ == "__main__":
    main()
