"""Which surrogate should rank the composed designer's proposals? One run per ranking kind.

For each target, the designer of the chosen profile (its budget, seed and proposals: the
committed flow, the GAN-MDN and the look-up latents) runs once per surrogate kind of the
designer step, every time with the latent surrogate steering the lines and the neural adjoint;
only the ranking of the proposals changes. Prints mean, median and max REP of the 30 verified
designs, how many are new, where they came from, and the time split, with the latent ranking's
numbers as the baseline measured in the same run. The lines' directions come from the same
model in every run, so the difference is the ranking's. One seed per target: a small sample.

Usage: ``python benchmarks/designer_ranking.py [--profile paper] [--dataset data-i]
[--targets 0.60 0.65 0.70] [--n-jobs 1]``.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--dataset", default="data-i")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.60, 0.65, 0.70])
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()

    from invdes.cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    from invdes.config import get_profile
    from invdes.data import load_dataset
    from invdes.inverse import novelty as nv
    from invdes.inverse.surrogate import SurrogateEnsemble
    from invdes.study import designer_models as dm
    from invdes.study import pipeline

    profile = get_profile(args.profile)
    models = dm.load_designer_models(profile, args.dataset,
                                     pipeline.upstream_configs(profile, "designer"))
    folder = dm.designer_dir(profile.name, args.dataset)
    kinds = {k: SurrogateEnsemble.load(folder / dm.SURROGATE_FILE.format(kind=k))
             for k in profile.surrogate.kinds}
    ds = load_dataset(args.dataset, profile, verify=0)
    packed = nv.pack(ds.x)
    mdn = pipeline.load_models(profile, args.dataset, ("gan-mdn",))["gan-mdn"]
    generator = pipeline.generator_for(profile)
    simulate = pipeline.simulator_for(profile, args.dataset, n_jobs=args.n_jobs)
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
            res = designer.design(target, generator=generator, simulate=simulate,
                                  train_z=ds.z, train_y=ds.y, train_packed=packed,
                                  delta=models.delta, surrogate=kinds[kind],
                                  gradient_surrogate=models.gradient_surrogate,
                                  flow=models.flow, mdn=mdn)
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
