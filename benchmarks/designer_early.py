"""Does stepping the best designs early and every round lower the designer's r_T, and at what
cost to its final designs? One run per setting.

For each development target (between the benchmark's targets, so that nothing is chosen on the
targets that chapter 8 reports), the designer of the chosen profile runs once per setting:
first the baseline, measured in the same run (``early_rounds = 0``: the whole first batch is
simulated before any refinement, and ``polish_best = 0``: each round steps only the worse
designs), then the early phase (``early_designs`` simulated alone, then ``early_rounds`` line
steps of their ``early_width`` best), then the early phase with the best design stepped every
round as well (``polish_best = 1``). Prints the best REP
after T simulations (the designer's r_T) next to the expected best of T random latents (the
order statistics of the data set's own labels, whose latents are uniform on the box: this is
BO's r_T for T up to its 250 random initial points), the T where the designer is above it, and
the mean and max REP of the 30 verified designs. One seed per target: read the direction over
targets, not one row.

Usage: ``python benchmarks/designer_early.py [--profile paper] [--dataset data-i]
[--targets 0.575 0.625 0.675 0.725] [--n-jobs 1]``.
"""

from __future__ import annotations

import numpy as np

T_SHOWN = (1, 4, 8, 12, 16, 24, 32, 48, 64, 100, 200)
#: (label, overrides of the profile's designer settings): the baseline first
SETTINGS = (
    ("baseline", {"early_rounds": 0, "polish_best": 0}),
    ("early phase", {"polish_best": 0}),
    ("early phase + best", {"polish_best": 1}),
)


def main() -> None:
    import designer_setup

    args = designer_setup.parse_args(__doc__.splitlines()[0])
    setup = designer_setup.load(args.profile, args.dataset, args.n_jobs)
    from invdes.study.evaluate import best_of_n_curve

    profile = setup.profile
    cfg = profile.designer
    print(f"profile {profile.name}, {args.dataset}, budget {cfg.budget}, {cfg.n_designs} "
          f"designs, seed {cfg.seed}; early phase: {cfg.early_designs} designs, "
          f"{cfg.early_rounds} rounds of {cfg.early_width}; best stepped: {cfg.polish_best}")
    print("r_T in %, at T = " + " ".join(str(t) for t in T_SHOWN))
    for target in args.targets:
        reps = np.abs(setup.dataset.y - target) / target
        random_curve = best_of_n_curve(reps, n_max=max(T_SHOWN))
        print(f"{target:.3f} random latents (expected): "
              + " ".join(f"{100 * random_curve[t - 1]:.3f}" for t in T_SHOWN), flush=True)
        for label, overrides in SETTINGS:
            res, wall = setup.design_with(overrides, target)
            trace = res.trace
            n = min(len(trace), len(random_curve))
            above = np.flatnonzero(trace[:n] > random_curve[:n]) + 1
            where = f"T = {above[0]}-{above[-1]} ({len(above)})" if len(above) else "none"
            print(f"{target:.3f} {label:24s}: "
                  + " ".join(f"{100 * trace[min(t, len(trace)) - 1]:.3f}" for t in T_SHOWN)
                  + f"; above random at {where}; mean REP {100 * res.rep.mean():.4f} %, max "
                  f"{100 * res.rep.max():.4f} %, {res.n_simulations} simulations, {wall:.0f} s",
                  flush=True)


if __name__ == "__main__":
    main()
