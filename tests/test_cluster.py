"""Simulation sweeps on a Dask cluster (``--scheduler``): same files as the local path, faults.

One ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` serves the module. Its
workers read the artifact root of this module (a temporary folder holding a small random
generator for the smoke profile), which they inherit when they start.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from invdes import artifacts, data, parallel
from invdes.cluster_sweeps import absorption_on_cluster
from invdes.config import get_profile
from invdes.gan import numpy_generator as gan_numpy
from invdes.physics.optics import absorption

distributed = pytest.importorskip("distributed")

SMOKE = get_profile("smoke")
REPO = Path(__file__).resolve().parent.parent


def random_generator_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Raw generator weights (format of invdes.gan) with random values: a cheap stand-in for a
    trained GAN whose images are still binary microstructures of the right size."""
    rng = np.random.default_rng(seed)
    arrays = {"meta/format": np.array(gan_numpy.WEIGHTS_FORMAT), "meta/bn_epsilon": np.array(1e-3)}
    filters = (1, 128, 64, 32, 16, 1)
    for i in range(1, gan_numpy.N_LAYERS + 1):
        c_in, c_out = filters[i - 1], filters[i]
        arrays[f"deconv{i}/kernel"] = rng.normal(0, (2.0 / (4 * c_in)) ** 0.5,
                                                 (4, 4, c_out, c_in)).astype(np.float32)
        if i < gan_numpy.N_LAYERS:
            arrays[f"bn{i}/gamma"] = np.ones(c_out, np.float32)
            arrays[f"bn{i}/beta"] = np.zeros(c_out, np.float32)
            arrays[f"bn{i}/moving_mean"] = np.zeros(c_out, np.float32)
            arrays[f"bn{i}/moving_variance"] = np.ones(c_out, np.float32)
        else:
            arrays[f"deconv{i}/bias"] = np.zeros(c_out, np.float32)
    return arrays


def write_generator_artifact(profile_name: str = "smoke") -> gan_numpy.NumpyGenerator:
    """Put a random generator where NumpyGenerator.from_profile finds it (current root)."""
    arrays = random_generator_weights()
    directory = artifacts.artifact_dir(profile_name, "gan")
    with artifacts.atomic_path(directory / gan_numpy.WEIGHTS_FILE) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    artifacts.write_provenance(directory, artifacts.provenance(
        gan_numpy.artifact_configs(get_profile(profile_name)), seed=0, wall_time_s=0.0,
        weights_hash=gan_numpy.weights_hash(arrays)))
    return gan_numpy.NumpyGenerator.from_profile(profile_name)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """This module's artifact root, with the generator; set before the cluster starts."""
    path = tmp_path_factory.mktemp("cluster-artifacts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(artifacts.ARTIFACTS_ENV, str(path))
        for var, value in parallel.BLAS_ENV.items():
            mp.setenv(var, value)
        write_generator_artifact()
        yield path


@pytest.fixture(scope="module")
def cluster(root):
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None, env=dict(parallel.BLAS_ENV))
    client = distributed.Client(local)
    client.register_plugin(parallel.blas_plugin())
    conn = parallel.Cluster(client, str(local.scheduler_address), local)
    yield conn
    conn.close()


@pytest.fixture
def generator(root, monkeypatch):
    monkeypatch.setenv(artifacts.ARTIFACTS_ENV, str(root))
    return gan_numpy.NumpyGenerator.from_profile("smoke")


#: The fault tests' data set: data-ii in 6 chunks of 4 rows (one task per chunk).
SMALL = dataclasses.replace(SMOKE, data=dataclasses.replace(SMOKE.data, n_samples=24,
                                                            chunk_size=4))


@pytest.fixture(scope="module")
def small_reference(root, tmp_path_factory) -> Path:
    """SMALL's data-ii made locally (joblib path, one process): what every run must equal."""
    out = tmp_path_factory.mktemp("local") / "data-ii.h5"
    gen = gan_numpy.NumpyGenerator.from_profile("smoke")
    return data.generate_dataset("data-ii", SMALL, generator=gen, n_jobs=1, out_path=out,
                                 progress=False)


def h5_arrays(path: Path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in ("z", "x_packed", "y")}


def assert_same_data(a: Path, b: Path) -> None:
    """Same rows, same order, y equal to the last bit (the files' data, not their timings)."""
    ra, rb = h5_arrays(a), h5_arrays(b)
    for key in ra:
        assert ra[key].dtype == rb[key].dtype and ra[key].shape == rb[key].shape, key
        assert ra[key].tobytes() == rb[key].tobytes(), f"{key} differs between {a} and {b}"
    with np.load(data.record_path(a)) as fa, np.load(data.record_path(b)) as fb:
        for key in ("z", "y", "x_ref_index", "x_ref_packed"):
            assert fa[key].tobytes() == fb[key].tobytes(), key


# ------------------------------------------------------------------------------ no cluster


@pytest.mark.parametrize("text, kind, n", [("local", "local", os.cpu_count()),
                                           ("local:3", "local", 3),
                                           ("tcp://10.0.0.5:8786", "remote", None),
                                           ("tls://sched.example.org:8786", "remote", None)])
def test_parse_scheduler(text, kind, n):
    spec = parallel.parse_scheduler(text)
    assert spec.kind == kind and spec.n_workers == n
    assert parallel.parse_scheduler(None) is None and parallel.parse_scheduler(" ") is None


@pytest.mark.parametrize("text", ["local:0", "local:x", "10.0.0.5:8786", "tcp://host",
                                  "tcp://host:99999", "http://host:8786"])
def test_parse_scheduler_rejects(text):
    with pytest.raises(ValueError, match="accepted: local, local:N"):
        parallel.parse_scheduler(text)


def test_identity_check_names_worker_and_difference():
    expected = parallel.identity("abc")
    parallel.check_identity({"identity": dict(expected), "worker": "w"}, expected)
    bad = dict(expected, invdes_version="9.9")
    with pytest.raises(parallel.ClusterError, match=r"tcp://w:1.*invdes_version '9.9'"):
        parallel.check_identity({"identity": bad, "worker": "tcp://w:1"}, expected)
    with pytest.raises(parallel.ClusterError, match="without an identity"):
        parallel.check_identity({"y": 1}, expected)


def test_unreachable_scheduler_one_line_exit_2_nothing_written(fresh_artifacts, capsys):
    from invdes.cli import main

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    t0 = time.perf_counter()
    rc = main(["reproduce", "--profile", "smoke", "--steps", "data", "--scheduler", address])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and elapsed < 10.0
    assert len(err) == 1 and err[0].startswith("invdes: error:") and address in err[0]
    assert list(fresh_artifacts.rglob("*")) == []


# ------------------------------------------------------------------------------ on the cluster


def test_smoke_data_step_equals_local_run_bit_for_bit(cluster, generator):
    root = artifacts.artifact_root()
    local = data.run(SMOKE, generator=generator, n_jobs=1, progress=False)
    (root / "smoke" / "data").rename(root / "smoke" / "data-local")
    remote = data.run(SMOKE, generator=generator, scheduler=cluster, progress=False)
    for name, path in remote.items():
        assert_same_data(local[name].parent.with_name("data-local") / path.name, path)
        assert not data.partial_dir(path).exists()
    ds = data.load_dataset("data-i", SMOKE, generator=generator)
    assert len(ds) == SMOKE.data.n_samples and ds.y.std() > 0  # real, varied absorptions


def test_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, generator, tmp_path,
                                                            small_reference):
    profile, ref = SMALL, small_reference
    out = tmp_path / "cluster" / "data-ii.h5"
    pids = cluster.client.run(os.getpid)
    errors: list[BaseException] = []

    def go():
        try:
            data.generate_dataset("data-ii", profile, generator=generator, scheduler=cluster,
                                  out_path=out, progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    part = data.partial_dir(out)
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:  # a worker busy with a task
        if list(part.glob("chunk_*.npz")):
            busy = [w for w, keys in cluster.client.processing().items() if keys]
            victim = busy[0] if busy else None
        time.sleep(0.02)
    assert victim is not None, "no worker was busy after the first chunk"
    n_done = len(list(part.glob("chunk_*.npz")))
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive() and errors == []
    assert n_done < 6  # killed mid-run: chunks were still missing
    assert_same_data(ref, out)
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
    assert pids[victim] not in set(cluster.client.run(os.getpid).values())


def test_client_killed_mid_run_rerun_resumes(cluster, generator, tmp_path, caplog,
                                             small_reference):
    profile, ref = SMALL, small_reference
    out = tmp_path / "cluster" / "data-ii.h5"
    code = ("import dataclasses, sys; from invdes import data; "
            "from invdes.gan import numpy_generator as gan_numpy; "
            "from invdes.config import get_profile; p = get_profile('smoke'); "
            "p = dataclasses.replace(p, data=dataclasses.replace(p.data, n_samples=24, "
            "chunk_size=4)); data.generate_dataset('data-ii', p, generator="
            "gan_numpy.NumpyGenerator.from_profile('smoke'), scheduler=sys.argv[1], "
            "out_path=sys.argv[2], progress=False)")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", code, cluster.address, str(out)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    part = data.partial_dir(out)
    deadline = time.monotonic() + 90
    while not list(part.glob("chunk_*.npz")) and time.monotonic() < deadline:
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    child.stderr.close()
    n_done = len(list(part.glob("chunk_*.npz")))
    assert 1 <= n_done < 6 and not out.exists()
    with caplog.at_level(logging.INFO, logger="invdes.data"):
        data.generate_dataset("data-ii", profile, generator=generator, scheduler=cluster,
                              out_path=out, progress=False)
    assert any("resuming" in r.getMessage() for r in caplog.records)
    assert_same_data(ref, out)


def test_workers_of_another_version_or_optics_are_refused(cluster, generator):
    images = generator.generate(np.zeros((2, 4), np.float32))
    y = absorption_on_cluster(cluster, images, SMOKE.optics_for("data-ii"))
    np.testing.assert_array_equal(y, absorption(images, SMOKE.optics_for("data-ii"), n_jobs=1))

    def other_version():
        import invdes

        invdes.saved_version, invdes.__version__ = invdes.__version__, "0.0.0+other"

    def restore_version():
        import invdes

        invdes.__version__ = invdes.saved_version

    def newer_optics():  # a worker whose OpticsConfig has one more field
        import dataclasses as dc

        import invdes.config as c

        c.saved_optics = c.OpticsConfig
        c.OpticsConfig = dc.make_dataclass(
            "OpticsConfig", [("polarization", str, dc.field(default="unpolarized"))],
            bases=(c.saved_optics,), frozen=True)

    def restore_optics():
        import invdes.config as c

        c.OpticsConfig = c.saved_optics

    for patch, restore, what in ((other_version, restore_version,
                                  "invdes_version '0.0.0+other' (client '0.1.0')"),
                                 (newer_optics, restore_optics, "optics_hash")):
        cluster.client.run(patch)
        try:
            with pytest.raises(parallel.ClusterError, match=f"refusing.*{re.escape(what)}"):
                absorption_on_cluster(cluster, images, SMOKE.optics_for("data-ii"))
        finally:
            cluster.client.run(restore)
    np.testing.assert_array_equal(
        absorption_on_cluster(cluster, images, SMOKE.optics_for("data-ii")), y)


def test_bo_on_cluster_writes_the_local_record(cluster, generator, tmp_path):
    from invdes.inverse.baselines import run_bo
    from invdes.study.cluster_bo import run_bo_targets

    profile = dataclasses.replace(SMOKE, bo=dataclasses.replace(
        SMOKE.bo, n_initial=4, n_iterations=1, initial_chunk=2, acq_optimizer="sampling"))
    local = tmp_path / "local.npz"
    stack = profile.optics_for("data-ii")
    run_bo(lambda z: absorption(generator.generate(z), stack, n_jobs=1), 4, 0.65,
           profile.bo, state_path=local, progress=False)
    results = list(run_bo_targets(cluster, profile, [("data-ii", 0.65), ("data-ii", 0.6)],
                                  lambda p, d, t, s=None: tmp_path / f"{d}_{t:.2f}.npz"))
    assert sorted(r["target"] for r in results) == [0.6, 0.65]
    with np.load(local) as a, np.load(tmp_path / "data-ii_0.65.npz") as b:
        for key in ("xs", "ys", "reps"):
            assert key in a.files and a[key].tobytes() == b[key].tobytes(), key


def test_other_generator_sends_images_and_gives_the_local_rows(cluster, root, tmp_path):
    """A generator that is not the profile's artifact cannot be rebuilt on the workers: the
    client sends bit-packed images instead, with the same result."""
    from invdes.cluster_sweeps import generator_weights_hash

    other = gan_numpy.NumpyGenerator(random_generator_weights(seed=1))
    assert generator_weights_hash(other, "smoke") is None
    profile = dataclasses.replace(SMALL, data=dataclasses.replace(SMALL.data, n_samples=8))
    ref = data.generate_dataset("data-ii", profile, generator=other, n_jobs=1,
                                out_path=tmp_path / "a" / "data-ii.h5", progress=False)
    out = data.generate_dataset("data-ii", profile, generator=other, scheduler=cluster,
                                out_path=tmp_path / "b" / "data-ii.h5", progress=False)
    assert_same_data(ref, out)


def test_pending_evaluation_cells_on_cluster(cluster, generator, monkeypatch, tmp_path):
    from invdes.study import pipeline

    monkeypatch.setenv(artifacts.ARTIFACTS_ENV, str(tmp_path))  # the client's root only
    cells = pipeline.evaluate_dir("smoke") / "cells"
    cells.mkdir(parents=True)
    rng = np.random.default_rng(3)
    images = {}
    for k in range(2):
        images[k] = generator.generate(rng.uniform(-1, 1, (5, 4)).astype(np.float32))
        with open(cells / f"data-ii_gan-mdn_0.{k}0.npz", "wb") as fh:
            np.savez(fh, images=images[k], generation_s=np.float64(0.0))
    assert pipeline.simulate_pending_cells(SMOKE, scheduler=cluster, progress=False) == 10
    for k in range(2):
        with np.load(cells / f"data-ii_gan-mdn_0.{k}0.npz") as f:
            assert f["y_hat"].tobytes() == absorption(images[k], SMOKE.optics_for("data-ii"),
                                                      n_jobs=1).tobytes()
            assert int(f["simulation_n_jobs"]) == 2
            assert "dask_scheduler" in str(f["simulation_machine"])


def test_scheduler_from_environment_is_checked_first(fresh_artifacts, monkeypatch, capsys):
    from invdes.cli import main

    monkeypatch.setenv(parallel.SCHEDULER_ENV, "local:none")
    assert main(["reproduce", "--profile", "smoke", "--steps", "data"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'local:none'" in err[0]
    assert list(fresh_artifacts.rglob("*")) == []
