"""Speed of `invdes design`, measured in one run (nothing here is asserted by the tests).

Prints, for the chosen profile's committed models (default: paper, else smoke):
- start-up: importing TensorFlow and loading the generator and the inverse models;
- 30 candidates without verification (MDN sampling + generator), repeated;
- 30 verified candidates (the same plus RCWA re-simulation in ``--n-jobs`` processes);
- the baseline measured in the same run: 30 random-latent candidates (generator only), and the
  ratios against it and against the issue's budgets (1 s unverified, 10 s verified);
- with ``--refine``: one ``--method refine`` design (the composed designer of chapter 8, the
  profile's simulation budget), split into start-up (data set and models), proposal,
  surrogate ranking, simulation and refinement, against the verified GAN-MDN candidates and
  the 60 s goal (after start-up). Needs the designer step's models.

Usage: ``python benchmarks/design_speed.py [--profile paper|smoke] [--dataset data-ii]
[--n 30] [--n-jobs 2] [--repeats 3] [--refine]``.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None)
    parser.add_argument("--dataset", default="data-ii")
    parser.add_argument("--target", type=float, default=0.65)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--refine", action="store_true",
                        help="also time one --method refine design (needs the designer models)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from invdes.cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    t_import = time.perf_counter() - t0

    from invdes import artifacts
    from invdes.config import get_profile
    from invdes.design import design
    from invdes.study import pipeline

    name = args.profile
    if name is None:
        try:
            pipeline.load_models(get_profile("paper"), args.dataset, ("gan-mdn",))
            name = "paper"
        except artifacts.ArtifactError:
            name = "smoke"
    profile = get_profile(name)
    t0 = time.perf_counter()
    models = pipeline.load_models(profile, args.dataset, ("gan-mdn",))
    generator = pipeline.generator_for(profile)
    t_load = time.perf_counter() - t0
    print(f"profile {profile.name}, {args.dataset}, target {args.target}, n={args.n}, "
          f"simulation processes {args.n_jobs}")
    print(f"start-up: TensorFlow import {t_import:.2f} s, model load {t_load:.2f} s")

    def best(fn) -> float:
        times = []
        for _ in range(args.repeats):
            s = time.perf_counter()
            fn()
            times.append(time.perf_counter() - s)
        return min(times)

    from invdes.inverse.baselines import random_latent_candidates

    dim = models["gan-mdn"].mdn_.dim_
    t_random = best(lambda: generator.generate(random_latent_candidates(dim, args.n, 0)))
    t_unverified = best(lambda: models["gan-mdn"].sample(args.target, args.n, 0))
    t_verified = best(lambda: design(args.target, dataset=args.dataset, n=args.n,
                                     method="gan-mdn", profile=profile, n_jobs=args.n_jobs,
                                     progress=False, models=models, generator=generator))
    print(f"baseline, {args.n} random-latent candidates (generator only): {t_random:.3f} s")
    print(f"{args.n} unverified GAN-MDN candidates: {t_unverified:.3f} s "
          f"({t_unverified / t_random:.1f}x baseline; budget 1 s -> "
          f"{t_unverified / 1.0:.2f} of it)")
    print(f"{args.n} verified GAN-MDN candidates (sample, generate, simulate, rank): "
          f"{t_verified:.2f} s ({t_verified / t_random:.0f}x baseline; budget 10 s -> "
          f"{t_verified / 10.0:.2f} of it)")
    if args.refine:
        time_refine(args, profile, generator, t_verified)


def time_refine(args, profile, generator, t_verified: float) -> None:
    """One composed-designer run with its time split (module docstring)."""
    from invdes import artifacts
    from invdes.design import default_budget, design

    budget = default_budget(profile, args.n)
    t0 = time.perf_counter()
    try:
        res = design(args.target, dataset=args.dataset, n=args.n, method="refine",
                     budget=budget, profile=profile, n_jobs=args.n_jobs, progress=False,
                     generator=generator)
    except artifacts.ArtifactError as exc:
        print(f"refine: skipped ({exc})")
        return
    total = time.perf_counter() - t0
    split = res.timings_s
    after_start = total - split.get("load_s", 0.0)
    parts = ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in split.items())
    print(f"{args.n} refined designs, budget {budget} simulations "
          f"({int(res.simulations.max()) if len(res.simulations) else 0} at most on one line): "
          f"{total:.1f} s ({parts})")
    print(f"  after start-up {after_start:.1f} s: {after_start / t_verified:.1f}x the verified "
          f"GAN-MDN candidates; goal 60 s -> {after_start / 60.0:.2f} of it; mean REP "
          f"{100 * res.rep.mean():.3f} %, max {100 * res.rep.max():.3f} %")


if __name__ == "__main__":
    main()
