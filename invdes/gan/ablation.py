"""The loss ablation of chapter 3: one GAN per variant of the profile's configuration.

Each variant (:data:`ABLATION_VARIANTS`) changes the profile's :class:`invdes.config.GANConfig`;
:func:`run_ablation` trains (or reuses) them, :func:`load_ablation` reads the stored results.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from invdes.artifacts import artifact_dir, is_current, read_provenance
from invdes.checks import check_count
from invdes.config import GANConfig, Profile, get_profile
from invdes.gan.evaluate import load_evaluation
from invdes.gan.numpy_generator import EVALUATION_FILE, HISTORY_FILE, STEP, WEIGHTS_FILE
from invdes.gan.train import load_history, train_gan

#: Ablation variants: changes to the profile's GANConfig (``seed_offset`` adds to its seed).
#: ``"full-other-seed"`` is the full loss again with another seed: the run-to-run spread that
#: a difference between the other variants has to exceed before it means anything.
ABLATION_VARIANTS: dict[str, dict] = {
    "full": {},
    "no-collapse": {"collapse_weight": 0.0},
    "no-style": {"style_weight": 0.0},
    "adversarial-only": {"collapse_weight": 0.0, "style_weight": 0.0},
    "discriminator-features": {"feature_extractor": "discriminator"},
    "full-other-seed": {"seed_offset": 1},
}

__all__ = ["ABLATION_VARIANTS", "ablation_config", "ablation_dir", "load_ablation",
           "load_ablation_result", "run_ablation"]



def ablation_dir(profile_name: str, variant: str, *, scaled: bool = False,
                 create: bool = True) -> Path:
    """Directory of an ablation variant: the profile's GAN artifact for ``"full"`` at full
    scale, else ``artifact_dir(profile, "gan-ablation/<variant>")`` (made unless not
    ``create``)."""
    if variant == "full" and not scaled:
        return artifact_dir(profile_name, STEP, create=create)
    return artifact_dir(profile_name, f"{STEP}-ablation/{variant}", create=create)


def ablation_config(base: GANConfig, variant: str, iterations: int | None = None) -> GANConfig:
    """The GANConfig of ablation ``variant`` (a key of :data:`ABLATION_VARIANTS`) on ``base``,
    trained for ``iterations`` when given."""
    if variant not in ABLATION_VARIANTS:
        raise ValueError(f"unknown ablation variant {variant!r}; allowed: "
                         f"{', '.join(ABLATION_VARIANTS)}")
    changes = dict(ABLATION_VARIANTS[variant])
    if "seed_offset" in changes:
        changes["seed"] = base.seed + int(changes.pop("seed_offset"))
    if iterations is not None:
        changes["iterations"] = check_count(iterations, "ablation iterations")
    return dataclasses.replace(base, **changes)


def run_ablation(profile: Profile | str | None = None, variants=None, *, resume: bool = True,
                 progress: bool = True, iterations: int | None = None) -> dict:
    """Train (or reuse) one GAN per variant of :data:`ABLATION_VARIANTS` and return
    ``{variant: {"evaluation", "history", "provenance", "directory"}}``. ``"full"`` is the
    profile's own GAN artifact; the others live in ``artifact_dir(profile, "gan-ablation/V")``.
    ``iterations`` trains every variant (``"full"`` included, then also under gan-ablation/)
    for that many iterations instead of the profile's."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    variants = list(variants or ABLATION_VARIANTS)
    scaled = iterations is not None and iterations != profile.gan.iterations
    configs = {v: ablation_config(profile.gan, v, iterations if scaled else None)
               for v in variants}  # checks every name before any training
    results = {}
    for variant, cfg in configs.items():
        out = ablation_dir(profile.name, variant, scaled=scaled)
        train_gan(profile, out, resume=resume, progress=progress, config=cfg)
        results[variant] = load_ablation_result(out)
    return results


def load_ablation_result(directory: str | os.PathLike) -> dict:
    directory = Path(directory)
    return {"evaluation": load_evaluation(directory),
            "history": load_history(directory / HISTORY_FILE),
            "provenance": read_provenance(directory), "directory": str(directory)}


def load_ablation(profile: Profile | str) -> dict:
    """Stored ablation results of a profile: for each variant, the artifact whose recorded
    config equals the profile's with the variant's changes, any number of iterations allowed
    (an ablation may run shorter than the main training: :func:`run_ablation`'s
    ``iterations``). Ablation directories are preferred to the main artifact for ``"full"``
    so that all variants share one iteration count when possible."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    out = {}
    for variant in ABLATION_VARIANTS:
        for scaled in (True, False):
            directory = ablation_dir(profile.name, variant, scaled=scaled, create=False)
            prov = read_provenance(directory)
            if prov is None or not (directory / EVALUATION_FILE).exists():
                continue
            iters = prov.get("config", {}).get("gan", {}).get("iterations")
            if not isinstance(iters, int):
                continue
            cfg = ablation_config(profile.gan, variant, iters)
            if is_current(directory, {"gan": cfg, "microstructure": profile.microstructure},
                          required=(WEIGHTS_FILE, EVALUATION_FILE)):
                out[variant] = load_ablation_result(directory)
                break
    return out
