"""What every step module of the study shares: the profile, the configs an artifact depends
on, and the profile's generator and simulators."""

from __future__ import annotations

from invdes import artifacts
from invdes.config import Profile, get_profile, to_dict


def as_profile(profile: Profile | str | None) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def generator_weights_hash(profile: Profile) -> str:
    prov = artifacts.read_provenance(artifacts.artifact_dir(profile.name, "gan", create=False))
    return str((prov or {}).get("weights_hash", "missing"))


def upstream_configs(profile: Profile, step: str) -> dict:
    """The configs a step's artifact depends on (its own and everything upstream); from the
    models on, also the trained generator's weights hash (a retrained GAN invalidates them)."""
    configs = {"microstructure": profile.microstructure, "gan": profile.gan}
    if step in ("mdn", "direct-mdn", "baselines", "evaluate"):
        configs["generator_weights"] = generator_weights_hash(profile)
    if step in ("data", "mdn", "direct-mdn", "baselines", "evaluate"):
        configs.update(optics={n: to_dict(c) for n, c in profile.optics_by_dataset().items()},
                       data=profile.data)
    if step in ("mdn", "direct-mdn", "evaluate", "designer", "benchmark"):
        configs["mdn"] = profile.mdn
    if step in ("designer", "benchmark"):
        configs.update(generator_weights=generator_weights_hash(profile),
                       optics={n: to_dict(c) for n, c in profile.optics_by_dataset().items()},
                       data=profile.data, surrogate=profile.surrogate, flow=profile.flow,
                       delta_probes=profile.designer.delta_probes)
    if step == "benchmark":
        configs.update(designer=profile.designer, bo=bo_run_config(profile.bo),
                       evaluation=profile.evaluation)
    if step in ("baselines", "evaluate"):
        configs["bo"] = bo_run_config(profile.bo)
    if step == "evaluate":
        configs["evaluation"] = profile.evaluation
    return configs


#: BO settings that say which runs to make, not how one run goes: records do not depend on them
BO_PLAN_FIELDS = ("spread_seeds", "spread_targets")


def bo_run_config(bo) -> dict:
    """The part of a :class:`~invdes.config.BOConfig` one BO record depends on (adding spread
    seeds keeps the finished runs)."""
    return {k: v for k, v in to_dict(bo).items() if k not in BO_PLAN_FIELDS}


def generator_for(profile: Profile):
    """The profile's trained generator, TensorFlow-free."""
    from invdes.gan.numpy_generator import NumpyGenerator

    return NumpyGenerator.from_profile(profile.name)


def simulator_for(profile: Profile, dataset: str, n_jobs: int | None = None,
                  progress: bool = False):
    """``simulate(images) -> y`` with the stack of ``dataset`` (``profile.optics_for``)."""
    config = profile.optics_for(dataset)
    from invdes.physics.optics import absorption

    def simulate(images, **kwargs):
        kwargs.setdefault("n_jobs", n_jobs)
        kwargs.setdefault("progress", progress)
        return absorption(images, config, **kwargs)

    return simulate
