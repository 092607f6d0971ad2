"""Cluster overhead: the same 200 simulations three ways, in one run, on the same cores.

1. ``joblib``: the local path of the data step: this process rebuilds the images from the
   latents with the numpy generator, then :func:`invdes.optics.absorption` with ``--cores``
   joblib processes (one BLAS thread each);
2. ``LocalCluster``: ``--cores`` single-threaded Dask worker processes, the data step's tasks
   (:func:`invdes.cluster_tasks.simulate_latents`: 4 latents per task; the worker rebuilds the
   images and returns y and the bit-packed images);
3. ``LocalCluster x2``: twice as many worker processes as cores (oversubscription).

Each variant gets a warm-up of one task per process (process start, imports, generator load)
before its timed run; the LocalCluster start is timed separately (once per ``invdes reproduce``).
Prints the time per variant, its ratio to joblib (goal: at most 1.10 at equal cores), the bytes
sent and returned per task, and checks that all three give the same y to the last bit.

Data-II latents (2x2, 64x64 images), the paper profile's committed generator and optics unless
``--optics smoke``. Usage::

    python benchmarks/cluster_speed.py [--n 200] [--cores 2] [--optics paper|smoke]
"""

from __future__ import annotations

import argparse
import os
import pickle
import time

import numpy as np

from invdes import parallel
from invdes.cluster_tasks import expected_identity, latent_task, simulate_latents
from invdes.config import get_profile
from invdes.gan_numpy import NumpyGenerator
from invdes.optics import absorption

ROWS_PER_TASK = 4


def run_joblib(gen, z: np.ndarray, optics, cores: int) -> tuple[np.ndarray, float]:
    absorption(gen.generate(z[:cores * ROWS_PER_TASK]), optics, n_jobs=cores)  # warm-up
    t0 = time.perf_counter()
    y = absorption(gen.generate(z), optics, n_jobs=cores, chunk_size=ROWS_PER_TASK)
    return y, time.perf_counter() - t0


def run_cluster(z: np.ndarray, optics, profile_name: str, ghash: str, workers: int
                ) -> tuple[np.ndarray, float, float, list[dict]]:
    t0 = time.perf_counter()
    cluster = parallel.connect(f"local:{workers}", verbose=False)
    start_s = time.perf_counter() - t0
    try:
        def tasks_of(zz):
            return [latent_task(zz[a : a + ROWS_PER_TASK], optics, profile_name=profile_name,
                                generator_hash=ghash, return_images=True)
                    for a in range(0, len(zz), ROWS_PER_TASK)]

        expect = expected_identity(optics)
        warm = tasks_of(z[: workers * ROWS_PER_TASK])
        list(cluster.map(simulate_latents, warm, expect=expect, progress=False))
        tasks = tasks_of(z)
        t0 = time.perf_counter()
        results = [r for _, r in cluster.map(simulate_latents, tasks, expect=expect,
                                             progress=False)]
        seconds = time.perf_counter() - t0
    finally:
        cluster.close()
    return np.concatenate([r["y"] for r in results]), seconds, start_s, [tasks[0], results[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="simulations per variant")
    parser.add_argument("--cores", type=int, default=2, help="processes of variants 1 and 2")
    parser.add_argument("--optics", choices=("paper", "smoke"), default="paper")
    args = parser.parse_args()
    parallel.pin_blas()
    optics = get_profile(args.optics).optics
    gen = NumpyGenerator.from_profile("paper")
    z = np.random.default_rng(0).uniform(-1, 1, size=(args.n, 4)).astype(np.float32)
    print(f"{args.n} Data-II simulations (64x64, {args.optics} optics: m = "
          f"{optics.harmonics[0]}, {optics.n_wavelengths} wavelengths), {args.cores} cores "
          f"(os.cpu_count() = {os.cpu_count()}), load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    y_ref, t_ref = run_joblib(gen, z, optics, args.cores)
    print(f"joblib, {args.cores} processes        : {t_ref:7.2f} s  (1.000)")
    for workers, label in ((args.cores, f"LocalCluster, {args.cores} workers  "),
                           (2 * args.cores, f"LocalCluster, {2 * args.cores} workers  ")):
        y, t, start_s, (task, result) = run_cluster(z, optics, "paper", gen.artifact_hash,
                                                    workers)
        same = y.tobytes() == y_ref.tobytes()
        print(f"{label}: {t:7.2f} s  ({t / t_ref:.3f} of joblib; cluster start "
              f"{start_s:.1f} s; y identical to joblib: {same})")
        if not same:
            raise SystemExit("the cluster's absorptions differ from joblib's")
    sent = len(pickle.dumps(task, protocol=5))
    back = len(pickle.dumps(result, protocol=5))
    print(f"bytes per task ({ROWS_PER_TASK} latents): {sent} sent, {back} returned (with the "
          f"{ROWS_PER_TASK} bit-packed images); per latent {sent / ROWS_PER_TASK:.0f} B sent")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
