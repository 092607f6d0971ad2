"""``python -m invdes.gan``: train a profile's GAN, or its ablation variants."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from invdes.artifacts import artifact_dir, read_provenance
from invdes.config import get_profile
from invdes.gan.ablation import ABLATION_VARIANTS, ablation_config, run_ablation
from invdes.gan.numpy_generator import STEP
from invdes.gan.train import train_gan


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m invdes.gan", description="Train the microstructure GAN of a profile."
    )
    parser.add_argument("--profile", default=None, help="smoke or paper (default $INVDES_PROFILE)")
    parser.add_argument("--no-resume", action="store_true", help="ignore any checkpoint")
    parser.add_argument("--force", action="store_true", help="retrain even if current")
    parser.add_argument("--ablation", nargs="*", default=None, metavar="VARIANT",
                        help="train ablation variants (default: all of "
                        f"{', '.join(ABLATION_VARIANTS)})")
    parser.add_argument("--ablation-iterations", type=int, default=None, metavar="N",
                        help="iterations of each ablation variant (default: the profile's)")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    profile = get_profile(args.profile)
    print(f"profile {profile.name}: {json.dumps(dataclasses.asdict(profile.gan))}", flush=True)
    if args.ablation is not None:
        try:  # the names and the iteration count, checked before any training
            for variant in args.ablation or ABLATION_VARIANTS:
                ablation_config(profile.gan, variant, args.ablation_iterations)
        except ValueError as exc:
            parser.error(str(exc))
        res = run_ablation(profile, args.ablation or None, resume=not args.no_resume,
                           iterations=args.ablation_iterations)
        for variant, r in res.items():
            print(variant, json.dumps(r["evaluation"] and
                                      {k: v["summary"] for k, v in r["evaluation"].items()}))
        return 0
    t0 = time.perf_counter()
    gen = train_gan(profile, resume=not args.no_resume, force=args.force)
    prov = read_provenance(artifact_dir(profile.name, STEP))
    print(f"done in {time.perf_counter() - t0:.1f} s: {gen.path}", flush=True)
    if prov and "evaluation" in prov:
        print(json.dumps(prov["evaluation"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
