"""Bayesian optimization on a Dask cluster: the loops stay here, their simulations go there.

Each (data set, target) runs its ask/tell loop (:func:`invdes.inverse.baselines.run_bo`) in a
thread of this process, which writes its state file after every step exactly as the local path
does; only the objective, one latent per task, runs on the workers
(:func:`invdes.cluster_tasks.simulate_latents`, the image rebuilt there from z).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import numpy as np

from invdes.cluster_sweeps import check_cluster_y
from invdes.cluster_tasks import expected_identity, latent_task, simulate_latents
from invdes.parallel import Cluster, ClusterError, Scheduler, using


def latent_objective(cluster: Cluster, profile, dataset: str, *, generator_hash: str,
                     stop: threading.Event | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``objective(z (b, d)) -> y (b,)``: simulate(G(z)) with the stack of ``dataset`` on
    ``cluster``, one task per latent (the BO objective). Raises ClusterError once ``stop`` is
    set."""
    optics = profile.optics_for(dataset)
    expect = expected_identity(optics)

    def objective(z: np.ndarray) -> np.ndarray:
        if stop is not None and stop.is_set():
            raise ClusterError("stopped: another Bayesian-optimization run failed")
        z = np.atleast_2d(np.asarray(z))
        tasks = [latent_task(z[k : k + 1], optics, profile_name=profile.name,
                             generator_hash=generator_hash) for k in range(len(z))]
        ys = [res["y"] for _, res in cluster.map(simulate_latents, tasks, expect=expect,
                                                 desc="BO objective", progress=False)]
        return check_cluster_y(np.concatenate(ys), len(z), "BO objective")

    return objective


def run_bo_targets(scheduler: Scheduler, profile, jobs: Sequence[tuple],
                   state_path: Callable[..., Path], *,
                   n_iterations: int | None = None) -> Iterator[dict]:
    """Run one BO loop per ``(data set, target)`` or ``(data set, target, seed)`` of ``jobs``
    (seed None or absent: the profile's), concurrently in threads of this process, with their
    simulations on the cluster; each loop resumes from and writes
    ``state_path(profile_name, data set, target, seed)`` as
    :func:`invdes.inverse.baselines.run_bo` does.

    Yields ``{"dataset", "target", "seed", "rep_best", "wall_time_s"}`` as each loop finishes.
    On the first failure the other loops stop at their next evaluation (their state files keep every
    finished step) and the error is raised.
    """
    from threadpoolctl import threadpool_limits

    from invdes.config import DATASETS
    from invdes.gan.numpy_generator import NumpyGenerator
    from invdes.inverse.baselines import run_bo

    if not jobs:
        return
    ghash = NumpyGenerator.from_profile(profile.name).artifact_hash
    jobs = [(j[0], j[1], j[2] if len(j) > 2 else None) for j in jobs]
    stop = threading.Event()
    with using(scheduler) as cluster:
        objectives = {d: latent_objective(cluster, profile, d, generator_hash=ghash, stop=stop)
                      for d in {j[0] for j in jobs}}

        def one(dataset: str, target: float, seed: int | None) -> dict:
            config = profile.bo if seed is None else replace(profile.bo, seed=int(seed))
            if n_iterations is not None:
                config = replace(config, n_iterations=n_iterations)
            res = run_bo(objectives[dataset], DATASETS[dataset] ** 2, target, config,
                         state_path=state_path(profile.name, dataset, target, seed),
                         progress=False)
            return {"dataset": dataset, "target": target, "seed": config.seed,
                    "rep_best": res.rep_best, "wall_time_s": res.wall_time_s}

        # the GP work of all loops shares this client's cores: one BLAS thread per loop
        with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [pool.submit(one, d, t, s) for d, t, s in jobs]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                stop.set()
