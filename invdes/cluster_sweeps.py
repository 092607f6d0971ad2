"""The client side of the sweeps that run on a Dask cluster (``--scheduler``): data chunks and
batches of images (the Bayesian-optimization loops: :mod:`invdes.study.cluster_bo`).

Each entry point takes ``scheduler``: an address (``local[:N]``, ``tcp://host:port``; connected
for the call) or an open :class:`invdes.parallel.Cluster`. Workers run the tasks of
:mod:`invdes.cluster_tasks` and return results; this process checks each result's identity and
does all the writing (through the callers in :mod:`invdes.data` and
:mod:`invdes.study.pipeline`),
so a cluster run writes the same files as a local one: the same rows, in the same order, with
the same ``y`` to the last bit (each image is simulated on its own, with one BLAS thread,
whichever process does it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import numpy as np

from invdes.cluster_tasks import (
    expected_identity,
    image_task,
    latent_task,
    simulate_images,
    simulate_latents,
)
from invdes.gan.numpy_generator import UPSCALE
from invdes.microstructure import generate_images, unpack_images
from invdes.parallel import ClusterError, Scheduler, using

#: Rows of a data chunk per task (4 latents: about 0.5 kB sent, 2.4 s of RCWA for 64x64 images
#: at the paper settings, so a per-task overhead of a few ms stays well below 1 %).
DATA_ROWS_PER_TASK = 4


def generator_weights_hash(generator, profile_name: str) -> str | None:
    """The weights hash by which workers can rebuild ``generator`` from the profile's GAN
    artifact, or None when it is not that artifact's NumpyGenerator (then images are sent)."""
    from invdes.artifacts import artifact_dir, read_provenance
    from invdes.gan.numpy_generator import NumpyGenerator

    value = getattr(generator, "artifact_hash", None)
    if not isinstance(generator, NumpyGenerator) or not isinstance(value, str) or not value:
        return None
    prov = read_provenance(artifact_dir(profile_name, "gan", create=False)) or {}
    return value if prov.get("weights_hash") == value else None


def check_cluster_y(y: np.ndarray, n: int, what: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,) or not np.all(np.isfinite(y)):
        raise ClusterError(f"{what}: the cluster returned absorptions of shape {y.shape} "
                           f"(finite: {bool(np.all(np.isfinite(y)))}); expected ({n},) finite")
    return y


def simulate_data_chunks(scheduler: Scheduler, name: str, profile, generator,
                         latents: Mapping[int, np.ndarray], *, bar=None,
                         rows_per_task: int = DATA_ROWS_PER_TASK
                         ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, float]]:
    """Simulate the data chunks ``{chunk index: z (rows, s*s)}`` of data set ``name`` on the
    cluster (the caller draws the latents, exactly as the local path does).

    Yields ``(chunk_index, z (rows, s*s) float32, x (rows, side, side) uint8, y (rows,)
    float64, seconds)`` as each chunk completes (any order; rows in order within a chunk);
    ``seconds`` is the wall time since the previous chunk completed. Latents are drawn exactly
    as the local path draws them; workers rebuild the images from z when ``generator`` is the
    profile's artifact (else the client generates and sends bit-packed images). ``bar``: a
    tqdm bar advanced by rows.
    """
    from invdes.config import DATASETS

    if rows_per_task < 1:
        raise ValueError(f"rows_per_task must be >= 1; got {rows_per_task}")
    side = UPSCALE * DATASETS[name]
    optics = profile.optics_for(name)
    ghash = generator_weights_hash(generator, profile.name)
    tasks, owner, latents, n_blocks = [], [], dict(latents), {}
    chunk_indices = list(latents)
    for i in chunk_indices:
        z = latents[i]
        starts = range(0, len(z), rows_per_task)
        n_blocks[i] = len(starts)
        for a in starts:
            zb = z[a : a + rows_per_task]
            if ghash is not None:
                tasks.append(latent_task(zb, optics, profile_name=profile.name,
                                         generator_hash=ghash, return_images=True))
            else:
                tasks.append(image_task(generate_images(generator, zb, side), optics,
                                        return_images=True))
            owner.append((i, a, len(zb)))
    func = simulate_latents if ghash is not None else simulate_images
    parts: dict[int, dict[int, dict]] = {i: {} for i in chunk_indices}
    with using(scheduler) as cluster:
        t_last = time.perf_counter()
        for k, res in cluster.map(func, tasks, expect=expected_identity(optics),
                                  desc=f"{name} ({profile.name})", unit="row",
                                  weights=[n for _, _, n in owner], bar=bar, ordered=False):
            i, a, _ = owner[k]
            parts[i][a] = res
            if len(parts[i]) < n_blocks[i]:
                continue
            done = parts.pop(i)
            blocks = [done[a] for a in sorted(done)]
            z = latents.pop(i)
            y = check_cluster_y(np.concatenate([b["y"] for b in blocks]), len(z),
                                f"{name} chunk {i}")
            x = unpack_images(np.concatenate([b["x_packed"] for b in blocks]), (side, side))
            now = time.perf_counter()
            yield i, z, x, y, now - t_last
            t_last = now


def absorption_on_cluster(scheduler: Scheduler, images: np.ndarray, config, *,
                          progress: bool = False, chunk_size: int = 4) -> np.ndarray:
    """Band-averaged absorption (n,) of binary ``images`` (n, h, w), in input order, simulated
    on the cluster in tasks of ``chunk_size`` bit-packed images (the cluster form of
    :func:`invdes.physics.optics.absorption`)."""
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
    return check_cluster_y(np.concatenate(ys), n, "absorption")
