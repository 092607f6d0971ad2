"""Command line: ``invdes simulate``, ``invdes design`` and ``invdes reproduce``.

Errors in what the user gave (bad file, bad value) print one line ``invdes: error: ...`` and
exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from invdes.config import PROFILES, get_profile

#: Every command's default profile: the paper's judge, the one the committed models were
#: trained with (``--profile smoke`` picks the fast test settings).
DEFAULT_PROFILE = "paper"


class UsageError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def load_image(path: str | Path) -> np.ndarray:
    """A binary image from a PNG (black = 0 = absorber, white = 1 = inclusion) or a .npy file."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"image file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            raise UsageError(f"cannot read {path} as a .npy array (empty, truncated or not "
                             "a numpy array file)") from None
    elif suffix == ".png":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("L"))
        except (OSError, UnidentifiedImageError) as exc:
            raise UsageError(f"cannot read {path} as a PNG image: {exc}") from None
        values = np.unique(arr)
        if not set(values.tolist()) <= {0, 255} and not set(values.tolist()) <= {0, 1}:
            raise UsageError(f"{path} is not a binary image: it has {values.size} grey levels; "
                             "allowed are black (0) and white (255 or 1)")
        arr = (arr > 0).astype(np.uint8)
    else:
        raise UsageError(f"unsupported image type {suffix!r} for {path}: allowed are .png, .npy")
    if arr.ndim != 2:
        raise UsageError(f"{path}: an image must be 2-D (h, w); got shape {arr.shape}")
    if not np.isin(arr, (0, 1)).all():
        raise UsageError(f"{path} is not binary: allowed pixel values are 0 and 1")
    return arr.astype(np.uint8)


def dataset_for_image(shape: tuple[int, ...]) -> str:
    """The data set whose images have this (h, w) shape; UsageError when none has."""
    from invdes.config import DATASETS

    sizes = {name: 32 * side for name, side in DATASETS.items()}
    for name, size in sizes.items():
        if tuple(shape) == (size, size):
            return name
    allowed = ", ".join(f"{s}x{s} ({n})" for n, s in sizes.items())
    raise UsageError(f"a {shape[0]}x{shape[1]} image matches no data set's size ({allowed}); "
                     "pass --dataset data-i|data-ii to choose a stack")


def simulate_judge(args: argparse.Namespace, profile_name: str, dataset: str, stack):
    """The judge ``invdes simulate`` uses: ``--harmonics M`` (a user's own truncation, with the
    convergence study's u where it ran M), else ``--judge`` (certified by default)."""
    import dataclasses

    from invdes.design import resolve_judge
    from invdes.physics import judges

    if args.harmonics is not None:
        judge = judges.fixed_judge(args.harmonics)
        u = judges.measured_uncertainty(profile_name, dataset, args.harmonics)
        return dataclasses.replace(judge, uncertainty=u)
    return resolve_judge(args.judge, profile_name, dataset, stack)


def cmd_simulate(args: argparse.Namespace) -> int:
    from invdes.artifacts import ArtifactError
    from invdes.config import DATASETS
    from invdes.physics import optics

    profile = get_profile(args.profile)
    image = load_image(args.image)
    dataset = args.dataset or dataset_for_image(image.shape)
    cfg = profile.optics_for(dataset)
    try:
        judge = simulate_judge(args, profile.name, dataset, cfg)
    except ArtifactError as exc:
        raise UsageError(f"{exc} (or pass --judge study)") from None
    import dataclasses

    spectra = []
    try:
        for m in judge.harmonics:
            spectra.append(optics.absorption_spectrum(
                image, dataclasses.replace(cfg, harmonics=(m, m))))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    value = sum(w * s.band_average for w, s in zip(judge.weights, spectra, strict=True))
    spectrum = spectra[-1]
    print(f"image {args.image}: {image.shape[0]}x{image.shape[1]} px, inclusion fraction "
          f"{image.mean():.4f}")
    print(f"stack of {dataset} ({32 * DATASETS[dataset]} px images): air / "
          f"{cfg.thickness_nm:g} nm {cfg.absorber} with {cfg.inclusion} inclusions "
          f"(period {cfg.period_nm:g} nm) / {cfg.substrate}; {cfg.formulation} factorization, "
          f"profile {profile.name}")
    band = f"unpolarized, {cfg.band_nm[0]:g}-{cfg.band_nm[1]:g} nm average"
    if judge.uncertainty is None:
        print(f"absorption ({judge.label}, {band}): {value:.4f} (accuracy not measured: the "
              "convergence study did not run this truncation)")
    else:
        print(f"absorption ({judge.label}, {band}): {value:.3f} +/- {judge.uncertainty:.3f} "
              "(95 % of the convergence study's images lie within this of the converged "
              "reference)")
    if args.spectrum:
        out = Path(args.spectrum)
        fmt = out.suffix.lower().lstrip(".") or "png"
        if fmt not in ("png", "pdf", "svg"):
            raise UsageError(f"--spectrum {out}: unsupported plot format {fmt!r}; "
                             "allowed: .png, .pdf, .svg")
        import matplotlib.pyplot as plt

        from invdes.artifacts import atomic_path

        fig = optics.plot_spectrum(spectrum, title=str(args.image))
        try:
            with atomic_path(out) as tmp:
                fig.savefig(tmp, format=fmt, dpi=120)
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc}") from None
        finally:
            plt.close(fig)
        print(f"spectrum plot written to {out}")
    return 0


def _print_table(result) -> None:
    verified = result.absorption is not None
    print(f"{result.method} candidates for target {result.target} on {result.dataset} "
          f"(profile {result.profile}, seed {result.seed})")
    if not verified:
        print(f"{'#':>4}  {'vol. frac.':>10}   (not simulated: --no-verify)")
        for row in result.rows():
            print(f"{row['rank']:>4}  {row['volume_fraction']:>10.4f}")
    else:
        judge = result.judge
        u = judge.uncertainty
        certified = judge.name == "certified"
        print(f"absorption and REP by the {judge.label}"
              + (f", accurate to +/- {u:.3f} for 95 % of data-set images" if u else "")
              + ("" if certified else "; the study judge is fast but off the converged "
                 "physics (invdes simulate --judge certified)"))
        head = f"{'rank':>4}  {'absorption':>10}  {'REP %':>7}  {'vol. frac.':>10}"
        print(head + (f"  {'A study':>8}  {'cert. sims':>10}" if certified else ""))
        for row in result.rows():
            line = (f"{row['rank']:>4}  {row['absorption']:>10.{3 if certified else 4}f}  "
                    f"{row['rep_pct']:>7.3f}  {row['volume_fraction']:>10.3f}")
            if certified:
                line += (f"  {row['absorption_study']:>8.4f}  "
                         f"{row['simulations_certified'] or 0:>10d}")
            print(line)
    t = result.timings_s
    print("time: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in t.items()))


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with the process's stderr (fd 2) silenced: the CUDA-capable wheel
    prints native CUDA-probing lines on CPU machines before any log level applies. Errors
    still propagate (stderr is restored before the exception leaves)."""
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here, also silenced
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_design_args(args: argparse.Namespace) -> float:
    """Every check of ``invdes design``'s arguments that needs no model: the target, ``--n``,
    ``--budget``, ``--no-verify`` and ``--out`` (UsageError naming the option)."""
    from invdes.design import check_budget, check_n, check_target

    if args.budget is not None and args.method != "refine":
        raise UsageError("--budget applies to --method refine only")
    try:
        target = check_target(args.target)
        try:
            check_n(args.n)
        except ValueError as exc:
            raise ValueError(f"--n: {exc}") from None
        if args.budget is not None:
            check_budget(args.budget, args.n)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.method == "refine" and args.no_verify:
        raise UsageError("--method refine (the default) always simulates (it refines with the "
                         "RCWA); drop --no-verify, or sample without simulation with --method "
                         "gan-mdn, pca-mdn, direct-mdn or random-latent")
    if args.out is not None:
        check_writable_folder(Path(args.out))
    return target


def check_writable_folder(out: Path) -> None:
    """UsageError unless ``out`` can be created (or replaced) as a folder."""
    import os
    import tempfile

    parent = out.parent if str(out.parent) else Path(".")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if not parent.is_dir():
        raise UsageError(f"--out {out}: parent folder {parent} does not exist")
    try:  # a trial folder: permission bits do not tell a read-only or virtual file system
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.check.", dir=parent))
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write into {parent}: "
                         f"{exc.strerror or exc}") from None


def cmd_design(args: argparse.Namespace) -> int:
    import json
    import warnings

    from invdes.artifacts import ArtifactError
    from invdes.design import TargetRangeWarning, design, write_design

    target = check_design_args(args)
    if args.method != "random-latent":
        import_tensorflow_quietly()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TargetRangeWarning)
            result = design(target, dataset=args.dataset, n=args.n, method=args.method,
                            seed=args.seed, verify=not args.no_verify, profile=args.profile,
                            progress=not args.json, budget=args.budget, judge=args.judge)
    except ArtifactError as exc:  # a missing or stale model: the message names the command
        raise UsageError(str(exc)) from None
    for w in caught:
        if issubclass(w.category, TargetRangeWarning):
            print(f"invdes: warning: {w.message}", file=sys.stderr)
    if args.out is not None:
        try:
            write_design(result, args.out)
        except OSError as exc:
            raise UsageError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(result.summary(), indent=2))
    else:
        _print_table(result)
        if args.out is not None:
            print(f"written to {args.out}: candidate_*.png/.npy, contact_sheet.png, "
                  "summary.csv, summary.json")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    import logging

    from invdes.artifacts import ArtifactError
    from invdes.parallel import ClusterError, parse_scheduler, scheduler_from_env
    from invdes.study.pipeline import parse_steps, reproduce

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        steps = parse_steps(args.steps)
        # --scheduler, else $INVDES_SCHEDULER; checked before anything runs
        scheduler = parse_scheduler(args.scheduler if args.scheduler is not None
                                    else scheduler_from_env())
        if scheduler is not None:  # distributed's INFO chatter (set on import) hides ours
            import distributed  # noqa: F401

            logging.getLogger("distributed").setLevel(logging.WARNING)
        if set(steps) & {"gan", "mdn", "evaluate"}:  # data and baselines need numpy only
            import_tensorflow_quietly()
        timings = reproduce(args.profile, steps, force=args.force, n_jobs=args.n_jobs,
                            scheduler=scheduler)
        if "evaluate" in steps:  # the book's figures of the evaluation, from its artifacts
            from invdes.book.ch07_results import write_figures

            write_figures(args.profile)
    except (ValueError, ArtifactError, ClusterError) as exc:
        raise UsageError(str(exc)) from None
    for step, sec in timings.items():
        print(f"{step:>10}: {sec:9.1f} s")
    return 0


def _positive_int(text: str) -> int:
    """A count: a whole number >= 1."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}")
    return value


def _seed(text: str) -> int:
    """A seed: a whole number >= 0."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0; got {text!r}")
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None


def _harmonics(text: str) -> int:
    from invdes.physics.judges import check_harmonics

    value = _whole_number(text)
    try:
        return check_harmonics(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="invdes", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("simulate", help="absorption of one binary image (PNG or .npy)")
    p.add_argument("image", help="binary image: PNG (black=absorber, white=inclusion) or .npy")
    p.add_argument("--spectrum", metavar="PLOT.png", help="also write the spectrum plot here")
    p.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE,
                   help="whose optical judge to use (default: paper, the judge the committed "
                   "models were trained with)")
    from invdes.config import DATASETS

    p.add_argument("--dataset", choices=tuple(DATASETS), default=None,
                   help="whose stack judges the image (default: the data set whose images have "
                   "its size: 96x96 data-i, 64x64 data-ii)")
    p.add_argument("--judge", choices=("certified", "study"), default="certified",
                   help="certified (default): the setting chosen by the convergence study, "
                   "with its uncertainty; study: m = 4, the judge that labels the data sets "
                   "and scores the study (fast, off the converged physics by a few hundredths)")
    p.add_argument("--harmonics", type=_harmonics, default=None, metavar="M",
                   help="simulate at orders -M..M instead (1 to 20; for your own convergence "
                   "check)")
    p.set_defaults(func=cmd_simulate)
    from invdes.design import DESIGN_METHODS, MAX_BUDGET, MAX_CANDIDATES

    p = sub.add_parser("design", help="candidate microstructures for a target absorption")
    p.add_argument("--target", required=True, help="target absorption, strictly in (0, 1)")
    p.add_argument("--dataset", default="data-ii", choices=list(DATASETS),
                   help="Data-I (3x3 latent, 96x96) or Data-II (2x2 latent, 64x64)")
    p.add_argument("--n", type=_positive_int, default=30,
                   help=f"number of candidates (1 to {MAX_CANDIDATES:,})")
    p.add_argument("--method", default="refine", choices=DESIGN_METHODS,
                   help="refine (default): new designs proposed, filtered by a surrogate and "
                   "refined with the RCWA (chapter 8); the others sample a trained inverse "
                   "model (or random latents) and simulate each candidate once")
    p.add_argument("--budget", type=_positive_int, default=None,
                   help=f"RCWA simulations --method refine may spend (n to {MAX_BUDGET:,}; "
                   "default: 200 per 30 designs)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the proposals (>= 0)")
    p.add_argument("--out", metavar="DIR", help="write candidates and summaries into DIR")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the RCWA re-simulation (candidates are not ranked)")
    p.add_argument("--judge", choices=("certified", "study"), default="certified",
                   help="certified (default): every absorption is the certified judge's, "
                   "with its uncertainty (refine: refined at the study judge, then certified "
                   "and corrected); study: the study judge (m = 4) only, fast, off the "
                   "converged physics by a few hundredths")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE,
                   help="whose trained models to use (default: paper, the committed artifacts)")
    p.set_defaults(func=cmd_design)

    p = sub.add_parser("reproduce", help="run the pipeline with the artifact cache")
    p.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE,
                   help="settings profile (default: paper, the committed artifacts)")
    from invdes.study.pipeline import STEPS

    p.add_argument("--steps", default=None,
                   help="comma-separated subset of " + ",".join(STEPS) + " (default all)")
    p.add_argument("--force", action="store_true", help="recompute even when artifacts match")
    p.add_argument("--n-jobs", type=_positive_int, default=None,
                   help="simulation processes (default: all CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the simulations of data, baselines and evaluate on a Dask "
                        "cluster: tcp://host:port, or local[:N] for a LocalCluster of N "
                        "processes (default: $INVDES_SCHEDULER, else local joblib)")
    p.set_defaults(func=cmd_reproduce)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (exit status 2), without the usage."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"invdes: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad option (2, message already printed)
        return int(exc.code or 0)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"invdes: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
