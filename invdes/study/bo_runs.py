"""Bayesian-optimization runs of the ``baselines`` step: one resumable record per (data set,
target, seed), in parallel processes or on a Dask cluster."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from invdes import artifacts
from invdes.config import DATASETS, Profile, get_profile
from invdes.parallel import Scheduler
from invdes.study.common import generator_for, simulator_for, upstream_configs

log = logging.getLogger("invdes.study.pipeline")


def bo_dir(profile_name: str, dataset: str) -> Path:
    return artifacts.artifact_dir(profile_name, f"bo/{dataset}")


def bo_state_path(profile_name: str, dataset: str, target: float, seed: int | None = None
                  ) -> Path:
    """The record of one BO run: ``target_0.65.npz`` for the profile's seed (``seed`` None),
    ``target_0.65_seed1.npz`` for a spread run with seed 1."""
    suffix = "" if seed is None else f"_seed{int(seed)}"
    return bo_dir(profile_name, dataset) / f"target_{target:.2f}{suffix}.npz"


def bo_jobs(profile: Profile, datasets=tuple(DATASETS), targets=None
            ) -> list[tuple[str, float, int | None]]:
    """Every BO run of the baselines step as ``(data set, target, seed)``: each target with the
    profile's seed (``None``), then ``bo.spread_seeds`` at the ``bo.spread_targets`` among
    ``targets``."""
    targets = tuple(profile.evaluation.targets if targets is None else targets)
    jobs = [(name, float(t), None) for name in datasets for t in targets]
    spread = [t for t in profile.bo.spread_targets if any(abs(t - u) < 1e-9 for u in targets)]
    jobs += [(name, float(t), int(s)) for s in profile.bo.spread_seeds for name in datasets
             for t in spread]
    return jobs


def bo_config_for(profile: Profile, seed: int | None = None, n_iterations: int | None = None):
    """The profile's BO settings with ``seed`` (None: the profile's) and ``n_iterations``."""
    config = profile.bo if seed is None else replace(profile.bo, seed=int(seed))
    return config if n_iterations is None else replace(config, n_iterations=n_iterations)


def _bo_task(profile_name: str, dataset: str, target: float,
             n_iterations: int | None = None, artifact_root: str | None = None,
             seed: int | None = None) -> dict:
    """One BO run (resumed from its record). ``n_iterations`` < the profile's stops early
    (e.g. 0: only the random initial phase, which parallelizes well); a later call with the
    profile's budget continues the same record. ``artifact_root``: the caller's root, passed
    explicitly because pooled worker processes may carry an older environment. ``seed``: a
    spread run (:func:`bo_jobs`)."""
    import os

    from threadpoolctl import threadpool_limits

    if artifact_root is not None:
        os.environ[artifacts.ARTIFACTS_ENV] = artifact_root

    from invdes.inverse.baselines import run_bo

    profile = get_profile(profile_name)
    generator = generator_for(profile)
    simulate = simulator_for(profile, dataset, n_jobs=1)
    config = bo_config_for(profile, seed, n_iterations)
    with threadpool_limits(limits=1):
        res = run_bo(lambda z: simulate(generator.generate(z)), DATASETS[dataset] ** 2, target,
                     config, state_path=bo_state_path(profile_name, dataset, target, seed),
                     progress=False)
    return {"dataset": dataset, "target": target, "seed": config.seed, "rep_best": res.rep_best,
            "wall_time_s": res.wall_time_s}


def prepare_bo_dirs(profile: Profile, *, force: bool = False, datasets=tuple(DATASETS)) -> None:
    """Create the per-data-set BO folders with their provenance; records made with another
    config (or all, with ``force``) are deleted so their runs start again."""
    configs = upstream_configs(profile, "baselines")
    for name in datasets:
        folder = bo_dir(profile.name, name)
        prov = artifacts.read_provenance(folder)
        if force or (prov is not None and prov.get("config_hash")
                     != artifacts.expected_hash(configs)):
            for f in folder.glob("target_*.npz"):
                f.unlink()  # another config (or forced): start these runs again
        artifacts.write_provenance(folder, artifacts.provenance(
            configs, seed=profile.bo.seed, wall_time_s=0.0, note="per-target records in *.npz"))


def step_baselines(profile: Profile, *, force: bool = False, n_jobs: int | None = None,
                   datasets=tuple(DATASETS), targets=None,
                   n_iterations: int | None = None, scheduler: Scheduler = None) -> None:
    """Bayesian optimization for every (data set, target), in parallel processes
    (``n_iterations``: see :func:`_bo_task`); with ``scheduler`` (a Dask address or
    :class:`invdes.parallel.Cluster`) the loops run in threads here and their simulations on
    the cluster (:func:`invdes.cluster_sweeps.run_bo_targets`), writing the same records."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    from invdes.physics.optics import default_n_jobs

    prepare_bo_dirs(profile, force=force, datasets=datasets)
    tasks = bo_jobs(profile, datasets, targets)
    if scheduler is not None:  # --- cluster hook: loops on this client, simulations on Dask
        from invdes.study.cluster_bo import run_bo_targets

        results = run_bo_targets(scheduler, profile, tasks, bo_state_path,
                                 n_iterations=n_iterations)
    else:
        n_jobs = min(len(tasks), default_n_jobs() if n_jobs is None else n_jobs)
        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_bo_task)(profile.name, name, t, n_iterations,
                              str(artifacts.artifact_root()), seed) for name, t, seed in tasks)
    for res in tqdm(results, total=len(tasks), desc="BO runs", unit="run"):
        log.info("BO %s target %.2f seed %d: best REP %.3f %% in %.0f s", res["dataset"],
                 res["target"], res["seed"], 100 * res["rep_best"], res["wall_time_s"])


def bo_records_current(profile: Profile, dataset: str) -> bool:
    """Whether the BO folder of ``dataset`` was made with the profile's current configs (records
    of another stack or data set are never reported)."""
    return artifacts.is_current(bo_dir(profile.name, dataset),
                                upstream_configs(profile, "baselines"))


def load_bo_results(profile: Profile, dataset: str) -> dict:
    """{target: BOResult} of the finished or partial runs present (the profile's seed); empty
    when the folder's records were made with other configs."""
    from invdes.inverse.baselines import load_bo_result

    if not bo_records_current(profile, dataset):
        return {}
    out = {}
    for t in profile.evaluation.targets:
        path = bo_state_path(profile.name, dataset, t)
        if path.exists():
            out[t] = load_bo_result(path)
    return out


def load_bo_runs(profile: Profile, dataset: str, targets) -> dict:
    """{(target, seed): BOResult} of every run present at ``targets``: the profile's seed and
    ``bo.spread_seeds`` (finished or partial); empty when the records are stale."""
    from invdes.inverse.baselines import load_bo_result

    if not bo_records_current(profile, dataset):
        return {}
    out = {}
    for t in targets:
        for seed in (None, *profile.bo.spread_seeds):
            path = bo_state_path(profile.name, dataset, t, seed)
            if path.exists():
                out[(t, profile.bo.seed if seed is None else seed)] = load_bo_result(path)
    return out


def load_bo_spread(profile: Profile, dataset: str) -> dict:
    """:func:`load_bo_runs` at the spread targets (``bo.spread_targets``)."""
    return load_bo_runs(profile, dataset, profile.bo.spread_targets)
