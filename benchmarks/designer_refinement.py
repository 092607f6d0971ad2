"""How should the composed designer spend its refinement budget? One run per setting.

For each development target (between the benchmark's targets, so that no setting is chosen on
the targets that chapter 8 reports), the designer of the chosen profile runs once per setting
of its refinement schedule: ``oversample`` (designs simulated first per design returned),
``refine_fraction`` (the share of the designs in contention stepped per round, worst first)
and ``max_restarts`` (new directions before a stalled design is retired and a spare takes its
place). The first setting is the baseline measured in the same run. Prints the mean,
median and max REP of the 30 verified designs and the ratio of the mean to the baseline's. One
seed per target: a small sample, so read the direction over targets, not one row.

Usage: ``python benchmarks/designer_refinement.py [--profile paper] [--dataset data-i]
[--targets 0.575 0.625 0.675 0.725] [--n-jobs 1]``.
"""

from __future__ import annotations

import numpy as np

#: (label, overrides of the profile's designer): the baseline first. The first comparison
#: (benchmarks/results/designer_refinement_dev.txt) chose oversample 1.6, refine_fraction 0.5
#: and max_restarts 1 against every design stepped every round; the second
#: (designer_refinement_fraction_dev.txt), once repeated images cost no simulation, how small
#: a share of the designs in contention to step per round.
SETTINGS = (
    ("worst half (refine_fraction 0.5)", {"refine_fraction": 0.5}),
    ("worst third (refine_fraction 0.34)", {"refine_fraction": 0.34}),
    ("worst quarter (refine_fraction 0.25)", {"refine_fraction": 0.25}),
)


def main() -> None:
    import designer_setup

    args = designer_setup.parse_args(__doc__.splitlines()[0])
    setup = designer_setup.load(args.profile, args.dataset, args.n_jobs)

    profile, models = setup.profile, setup.models
    print(f"profile {profile.name}, {args.dataset}, budget {profile.designer.budget}, "
          f"{profile.designer.n_designs} designs, seed {profile.designer.seed}, "
          f"delta {models.delta:.3f}, ranking by the {models.surrogate.inputs} surrogate")
    for target in args.targets:
        base = None
        for label, overrides in SETTINGS:
            res, wall = setup.design_with(overrides, target)
            mean = 100 * res.rep.mean()
            base = mean if base is None else base
            print(f"{target:.3f} {label:36s}: mean REP {mean:.4f} % ({mean / base:.2f}x "
                  f"baseline), median {100 * np.median(res.rep):.4f} %, max "
                  f"{100 * res.rep.max():.4f} %, new {int((res.novelty >= models.delta).sum())}"
                  f"/{len(res.rep)}, {res.n_simulations} simulations, {wall:.0f} s", flush=True)


if __name__ == "__main__":
    main()
