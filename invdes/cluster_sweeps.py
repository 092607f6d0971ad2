"""The client side of the sweeps that run on a Dask cluster (``--scheduler``): data chunks,
batches of images, Bayesian-optimization loops.

Each entry point takes ``scheduler``: an address (``local[:N]``, ``tcp://host:port``; connected
for the call) or an open :class:`invdes.parallel.Cluster`. Workers run the tasks of
:mod:`invdes.cluster_tasks` and return results; this process checks each result's identity and
does all the writing (through the callers in :mod:`invdes.data` and :mod:`invdes.pipeline`),
so a cluster run writes the same files as a local one: the same rows, in the same order, with
the same ``y`` to the last bit (each image is simulated on its own, with one BLAS thread,
whichever process does it).

Bayesian optimization: one thread per (data set, target) on the client runs the sequential
ask/tell loop of :func:`invdes.baselines.run_bo` and writes its state file after every step, as
the local path does; only the objective runs on the cluster (one task per latent). The targets
therefore advance in parallel and each loop's simulations spread over the workers, while the
optimizer state, which must be updated in order, never leaves the client. The sequential phase
keeps at most one simulation per loop in flight, so BO uses at most (number of loops) workers
then; the initial random phase uses up to ``initial_chunk`` per loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import numpy as np

from invdes.cluster_tasks import (
    expected_identity,
    image_task,
    latent_task,
    simulate_images,
    simulate_latents,
)
from invdes.parallel import Cluster, ClusterError, Scheduler, using

#: Rows of a data chunk per task (4 latents: about 0.5 kB sent, 2.4 s of RCWA for 64x64 images
#: at the paper settings, so a per-task overhead of a few ms stays well below 1 %).
DATA_ROWS_PER_TASK = 4


def generator_weights_hash(generator, profile_name: str) -> str | None:
    """The weights hash by which workers can rebuild ``generator`` from the profile's GAN
    artifact, or None when it is not that artifact's NumpyGenerator (then images are sent)."""
    from invdes.artifacts import artifact_dir, read_provenance
    from invdes.gan_numpy import NumpyGenerator

    value = getattr(generator, "artifact_hash", None)
    if not isinstance(generator, NumpyGenerator) or not isinstance(value, str) or not value:
        return None
    prov = read_provenance(artifact_dir(profile_name, "gan", create=False)) or {}
    return value if prov.get("weights_hash") == value else None


def _check_y(y: np.ndarray, n: int, what: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,) or not np.all(np.isfinite(y)):
        raise ClusterError(f"{what}: the cluster returned absorptions of shape {y.shape} "
                           f"(finite: {bool(np.all(np.isfinite(y)))}); expected ({n},) finite")
    return y


def simulate_data_chunks(scheduler: Scheduler, name: str, profile, generator,
                         chunk_indices: Sequence[int], *, bar=None,
                         rows_per_task: int = DATA_ROWS_PER_TASK
                         ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, float]]:
    """Simulate the data chunks ``chunk_indices`` of data set ``name`` on the cluster.

    Yields ``(chunk_index, z (rows, s*s) float32, x (rows, side, side) uint8, y (rows,)
    float64, seconds)`` as each chunk completes (any order; rows in order within a chunk);
    ``seconds`` is the wall time since the previous chunk completed. Latents are drawn exactly
    as the local path draws them; workers rebuild the images from z when ``generator`` is the
    profile's artifact (else the client generates and sends bit-packed images). ``bar``: a
    tqdm bar advanced by rows.
    """
    from invdes.data import draw_latents, generate_images, image_side, unpack_images

    if rows_per_task < 1:
        raise ValueError(f"rows_per_task must be >= 1; got {rows_per_task}")
    side = image_side(name)
    ghash = generator_weights_hash(generator, profile.name)
    tasks, owner, latents, n_blocks = [], [], {}, {}
    for i in chunk_indices:
        z = draw_latents(name, profile.data, i)
        latents[i] = z
        starts = range(0, len(z), rows_per_task)
        n_blocks[i] = len(starts)
        for a in starts:
            zb = z[a : a + rows_per_task]
            if ghash is not None:
                tasks.append(latent_task(zb, profile.optics, profile_name=profile.name,
                                         generator_hash=ghash, return_images=True))
            else:
                tasks.append(image_task(generate_images(generator, zb, side), profile.optics,
                                        return_images=True))
            owner.append((i, a, len(zb)))
    func = simulate_latents if ghash is not None else simulate_images
    parts: dict[int, dict[int, dict]] = {i: {} for i in chunk_indices}
    with using(scheduler) as cluster:
        t_last = time.perf_counter()
        for k, res in cluster.map(func, tasks, expect=expected_identity(profile.optics),
                                  desc=f"{name} ({profile.name})", unit="row",
                                  weights=[n for _, _, n in owner], bar=bar, ordered=False):
            i, a, _ = owner[k]
            parts[i][a] = res
            if len(parts[i]) < n_blocks[i]:
                continue
            done = parts.pop(i)
            blocks = [done[a] for a in sorted(done)]
            z = latents.pop(i)
            y = _check_y(np.concatenate([b["y"] for b in blocks]), len(z), f"{name} chunk {i}")
            x = unpack_images(np.concatenate([b["x_packed"] for b in blocks]), (side, side))
            now = time.perf_counter()
            yield i, z, x, y, now - t_last
            t_last = now


def absorption_on_cluster(scheduler: Scheduler, images: np.ndarray, config, *,
                          progress: bool = False, chunk_size: int = 4) -> np.ndarray:
    """Band-averaged absorption (n,) of binary ``images`` (n, h, w), in input order, simulated
    on the cluster in tasks of ``chunk_size`` bit-packed images (the cluster form of
    :func:`invdes.optics.absorption`)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    images = np.asarray(images, dtype=np.uint8)
    n = len(images)
    tasks = [image_task(images[a : a + chunk_size], config) for a in range(0, n, chunk_size)]
    with using(scheduler) as cluster:
        ys = [res["y"] for _, res in cluster.map(
            simulate_images, tasks, expect=expected_identity(config), desc="RCWA", unit="img",
            weights=[len(images[a : a + chunk_size]) for a in range(0, n, chunk_size)],
            progress=progress)]
    return _check_y(np.concatenate(ys), n, "absorption")


def latent_objective(cluster: Cluster, profile, *, generator_hash: str,
                     stop: threading.Event | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``objective(z (b, d)) -> y (b,)``: simulate(G(z)) on ``cluster``, one task per latent
    (the BO objective). Raises ClusterError once ``stop`` is set."""
    expect = expected_identity(profile.optics)

    def objective(z: np.ndarray) -> np.ndarray:
        if stop is not None and stop.is_set():
            raise ClusterError("stopped: another Bayesian-optimization run failed")
        z = np.atleast_2d(np.asarray(z))
        tasks = [latent_task(z[k : k + 1], profile.optics, profile_name=profile.name,
                             generator_hash=generator_hash) for k in range(len(z))]
        ys = [res["y"] for _, res in cluster.map(simulate_latents, tasks, expect=expect,
                                                 desc="BO objective", progress=False)]
        return _check_y(np.concatenate(ys), len(z), "BO objective")

    return objective


def run_bo_targets(scheduler: Scheduler, profile, jobs: Sequence[tuple[str, float]],
                   state_path: Callable[[str, str, float], Path], *,
                   n_iterations: int | None = None) -> Iterator[dict]:
    """Run one BO loop per ``(data set, target)`` of ``jobs``, concurrently in threads of this
    process, with their simulations on the cluster; each loop resumes from and writes
    ``state_path(profile_name, data set, target)`` as :func:`invdes.baselines.run_bo` does.

    Yields ``{"dataset", "target", "rep_best", "wall_time_s"}`` as each loop finishes. On the
    first failure the other loops stop at their next evaluation (their state files keep every
    finished step) and the error is raised.
    """
    from threadpoolctl import threadpool_limits

    from invdes.baselines import run_bo
    from invdes.config import DATASETS
    from invdes.gan_numpy import NumpyGenerator

    if not jobs:
        return
    ghash = NumpyGenerator.from_profile(profile.name).artifact_hash
    config = profile.bo if n_iterations is None else replace(profile.bo,
                                                              n_iterations=n_iterations)
    stop = threading.Event()
    with using(scheduler) as cluster:
        objective = latent_objective(cluster, profile, generator_hash=ghash, stop=stop)

        def one(dataset: str, target: float) -> dict:
            res = run_bo(objective, DATASETS[dataset] ** 2, target, config,
                         state_path=state_path(profile.name, dataset, target), progress=False)
            return {"dataset": dataset, "target": target, "rep_best": res.rep_best,
                    "wall_time_s": res.wall_time_s}

        # the GP work of all loops shares this client's cores: one BLAS thread per loop
        with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [pool.submit(one, d, t) for d, t in jobs]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                stop.set()
