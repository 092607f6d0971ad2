"""Which surrogate should rank the composed designer's proposals? One run per ranking kind.

For each target, the designer of the chosen profile (its budget, seed and proposals: the
committed flow, the GAN-MDN and the look-up latents) runs once per surrogate kind of the
designer step, every time with the latent surrogate steering the lines and the neural adjoint;
only the ranking of the proposals changes. Prints mean, median and max REP of the 30 verified
designs, how many are new, where they came from, and the time split, with the latent ranking's
numbers as the baseline measured in the same run. The lines' directions come from the same
model in every run, so the difference is the ranking's. One seed per target: a small sample.
The default targets lie between chapter 8's, so that a choice made from this comparison is not
made on the targets the chapter reports.

Usage: ``python benchmarks/designer_ranking.py [--profile paper] [--dataset data-i]
[--targets 0.575 0.625 0.675 0.725] [--n-jobs 1]``.
"""

from __future__ import annotations

import collections
import time

import numpy as np


def main() -> None:
    import designer_setup

    args = designer_setup.parse_args(__doc__.splitlines()[0])
    setup = designer_setup.load(args.profile, args.dataset, args.n_jobs)
    from invdes.inverse.surrogate import SurrogateEnsemble
    from invdes.study import designer_models as dm

    profile, models = setup.profile, setup.models
    folder = dm.designer_dir(profile.name, args.dataset)
    kinds = {k: SurrogateEnsemble.load(folder / dm.SURROGATE_FILE.format(kind=k))
             for k in profile.surrogate.kinds}
    rmse = models.provenance["test_rmse"]
    print(f"profile {profile.name}, {args.dataset}, budget {profile.designer.budget}, "
          f"{profile.designer.n_designs} designs, seed {profile.designer.seed}, "
          f"delta {models.delta:.3f}; test RMSE " +
          ", ".join(f"{k} {v:.4f}" for k, v in rmse.items()))
    for target in args.targets:
        base = None
        for kind in ("z", *[k for k in kinds if k != "z"]):
            designer = dm.designer_for(profile)
            t0 = time.perf_counter()
            res = setup.design(designer, target, surrogate=kinds[kind])
            wall = time.perf_counter() - t0
            mean = 100 * res.rep.mean()
            base = mean if base is None else base
            sources = dict(collections.Counter(str(s) for s in res.source))
            split = ", ".join(f"{k.removesuffix('_s')} {v:.1f}" for k, v in res.timings_s.items())
            print(f"{target:.2f} ranked by {kind:5s}: mean REP {mean:.4f} % ({mean / base:.2f}x "
                  f"z), median {100 * np.median(res.rep):.4f} %, max {100 * res.rep.max():.4f} "
                  f"%, new {int((res.novelty >= models.delta).sum())}/{len(res.rep)}, "
                  f"{res.n_simulations} simulations, {wall:.0f} s ({split} s), from {sources}",
                  flush=True)


if __name__ == "__main__":
    main()
