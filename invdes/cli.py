"""Command line: ``invdes simulate IMAGE`` (more subcommands join as the pipeline grows).

Errors in what the user gave (bad file, bad value) print one line ``invdes: error: ...`` and
exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from invdes.config import PROFILES, get_profile


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
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {path} as a .npy array: {exc}") from None
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


def cmd_simulate(args: argparse.Namespace) -> int:
    from invdes import optics

    profile = get_profile(args.profile)
    image = load_image(args.image)
    try:
        spectrum = optics.absorption_spectrum(image, profile.optics)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cfg = profile.optics
    print(f"image {args.image}: {image.shape[0]}x{image.shape[1]} px, inclusion fraction "
          f"{image.mean():.4f}")
    print(f"stack: air / {cfg.thickness_nm:g} nm {cfg.absorber} with {cfg.inclusion} inclusions "
          f"(period {cfg.period_nm:g} nm) / {cfg.substrate}; harmonics {tuple(cfg.harmonics)}, "
          f"{cfg.formulation} factorization, profile {profile.name}")
    print(f"absorption (unpolarized, {cfg.band_nm[0]:g}-{cfg.band_nm[1]:g} nm average): "
          f"{spectrum.band_average:.6f}")
    if args.spectrum:
        out = Path(args.spectrum)
        fig = optics.plot_spectrum(spectrum, title=str(args.image))
        from invdes.artifacts import atomic_path

        try:
            with atomic_path(out) as tmp:
                fig.savefig(tmp, format="png", dpi=120)
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc}") from None
        print(f"spectrum plot written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invdes", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="absorption of one binary image (PNG or .npy)")
    p.add_argument("image", help="binary image: PNG (black=absorber, white=inclusion) or .npy")
    p.add_argument("--spectrum", metavar="PLOT.png", help="also write the spectrum plot here")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="settings profile (default: $INVDES_PROFILE or smoke)")
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"invdes: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
