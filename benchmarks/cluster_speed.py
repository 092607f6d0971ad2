"""Cluster overhead: the same 200 simulations three ways, in one run, on the same cores.

1. ``joblib``: the local path of the data step: this process rebuilds the images from the
   latents with the numpy generator, then :func:`invdes.physics.optics.absorption` with ``--cores``
   joblib processes (one BLAS thread each);
2. ``LocalCluster``: ``--cores`` single-threaded Dask worker processes, the data step's tasks
   (:func:`invdes.cluster_tasks.simulate_latents`: 4 latents per task; the worker rebuilds the
   images and returns y and the bit-packed images);
3. ``LocalCluster x2``: twice as many worker processes as cores (oversubscription).

Each variant gets a warm-up of two tasks per core (process start, imports, generator load)
before the timed runs; the LocalCluster start is timed separately (once per ``invdes
reproduce``). The simulations of each variant run in ``--rounds`` interleaved rounds with the
order rotated, so that a load that changes during the run (a shared machine) hits all alike.
Prints the time per variant, its ratio to joblib (goal: at most 1.10 at equal cores), the bytes
sent and returned per task, and checks that all three give the same y to the last bit.

Data-II latents (2x2, 64x64 images), the paper profile's committed generator and optics unless
``--optics smoke``. Usage::

    python benchmarks/cluster_speed.py [--n 200] [--cores 2] [--rounds 4] [--optics paper|smoke]
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
from invdes.gan.numpy_generator import NumpyGenerator
from invdes.physics.optics import absorption

ROWS_PER_TASK = 4


def tasks_of(z: np.ndarray, optics, ghash: str) -> list[dict]:
    """The data step's tasks for latents ``z``: ROWS_PER_TASK latents each."""
    return [latent_task(z[a : a + ROWS_PER_TASK], optics, profile_name="paper",
                        generator_hash=ghash, return_images=True)
            for a in range(0, len(z), ROWS_PER_TASK)]


def on_joblib(gen, z: np.ndarray, optics, cores: int) -> np.ndarray:
    return absorption(gen.generate(z), optics, n_jobs=cores, chunk_size=ROWS_PER_TASK)


def on_cluster(cluster, z: np.ndarray, optics, ghash: str) -> tuple[np.ndarray, list]:
    results = [r for _, r in cluster.map(simulate_latents, tasks_of(z, optics, ghash),
                                         expect=expected_identity(optics), progress=False)]
    return np.concatenate([r["y"] for r in results]), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="simulations per variant")
    parser.add_argument("--cores", type=int, default=2, help="processes of variants 1 and 2")
    parser.add_argument("--rounds", type=int, default=4,
                        help="the n simulations of each variant in this many interleaved "
                             "rounds (order rotated), so a changing load hits all alike")
    parser.add_argument("--optics", choices=("paper", "smoke"), default="paper")
    args = parser.parse_args()
    parallel.pin_blas()
    optics = get_profile(args.optics).optics_for("data-ii")
    gen = NumpyGenerator.from_profile("paper")
    ghash = gen.artifact_hash
    z = np.random.default_rng(0).uniform(-1, 1, size=(args.n, 4)).astype(np.float32)
    print(f"{args.n} Data-II simulations (64x64, {args.optics} optics: m = "
          f"{optics.harmonics[0]}, {optics.n_wavelengths} wavelengths), {args.cores} cores "
          f"(os.cpu_count() = {os.cpu_count()}), {args.rounds} interleaved rounds; load "
          f"average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    clusters, start_s = {}, {}
    for workers in (args.cores, 2 * args.cores):
        t0 = time.perf_counter()
        clusters[workers] = parallel.connect(f"local:{workers}", verbose=False)
        start_s[workers] = time.perf_counter() - t0
    names = {"joblib": f"joblib, {args.cores} processes",
             args.cores: f"LocalCluster, {args.cores} workers",
             2 * args.cores: f"LocalCluster, {2 * args.cores} workers"}
    try:
        warm = z[: 2 * args.cores * ROWS_PER_TASK]  # process start, imports, generator load
        on_joblib(gen, warm, optics, args.cores)
        for cluster in clusters.values():
            on_cluster(cluster, warm, optics, ghash)
        seconds = dict.fromkeys(names, 0.0)
        ys: dict = {k: [] for k in names}
        order = list(names)
        bounds = np.linspace(0, args.n, args.rounds + 1).astype(int)
        for r in range(args.rounds):
            zr = z[bounds[r] : bounds[r + 1]]
            for key in order[r % 3:] + order[: r % 3]:
                t0 = time.perf_counter()
                if key == "joblib":
                    y = on_joblib(gen, zr, optics, args.cores)
                else:
                    y, results = on_cluster(clusters[key], zr, optics, ghash)
                seconds[key] += time.perf_counter() - t0
                ys[key].append(y)
    finally:
        for cluster in clusters.values():
            cluster.close()
    y_ref = np.concatenate(ys["joblib"])
    for key, label in names.items():
        same = np.concatenate(ys[key]).tobytes() == y_ref.tobytes()
        extra = "" if key == "joblib" else (f"; cluster start {start_s[key]:.1f} s; y identical "
                                            f"to joblib: {same}")
        print(f"{label:26}: {seconds[key]:7.2f} s  ({seconds[key] / seconds['joblib']:.3f} of "
              f"joblib{extra})")
        if not same:
            raise SystemExit("the cluster's absorptions differ from joblib's")
    task = tasks_of(z[:ROWS_PER_TASK], optics, ghash)[0]
    sent = len(pickle.dumps(task, protocol=5))
    back = len(pickle.dumps(results[0], protocol=5))
    print(f"bytes per task ({ROWS_PER_TASK} latents): {sent} sent, {back} returned (with the "
          f"{ROWS_PER_TASK} bit-packed images); per latent {sent / ROWS_PER_TASK:.0f} B sent")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
