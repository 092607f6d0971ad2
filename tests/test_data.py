"""Tests of invdes.data with a fake generator and a fake simulator (no TensorFlow, no RCWA)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from invdes import data as D
from invdes import microstructure
from invdes.artifacts import ArtifactError
from invdes.config import DataConfig, get_profile

TESTS_DIR = Path(__file__).resolve().parent
REBUILD = "invdes reproduce --profile smoke --steps data --force"


class FakeGenerator:
    """A fixed random linear map z -> field of side 32*s, thresholded at 0.5 (binary uint8)."""

    def __init__(self, seed: int = 0, artifact_hash: str | None = None):
        self.seed = seed
        self.calls = 0
        if artifact_hash is not None:
            self.artifact_hash = artifact_hash

    def generate(self, z):
        z = np.asarray(z, dtype=np.float64)
        n, d = z.shape
        s = int(round(np.sqrt(d)))
        side = 32 * s
        w = np.random.default_rng([self.seed, d]).standard_normal((d, side * side))
        self.calls += 1
        return (z @ w > 0.5).astype(np.uint8).reshape(n, side, side)


class FakeSimulate:
    """Absorption-like number from volume fraction and interface density; can fail on purpose."""

    def __init__(self, fail_after: int | None = None):
        self.fail_after = fail_after
        self.calls = 0
        self.rows = 0

    def __call__(self, images, n_jobs=None, progress=False):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.rows += len(images)
        x = np.asarray(images, dtype=np.float64)
        vf = x.mean(axis=(1, 2))
        edges = np.abs(np.diff(x, axis=2)).mean(axis=(1, 2))
        return 0.5 + 0.3 * vf + 0.2 * edges


def tiny_profile(n_samples: int = 10, chunk_size: int = 4, seed: int = 0):
    base = get_profile("smoke")
    return dataclasses.replace(
        base, data=DataConfig(n_samples=n_samples, chunk_size=chunk_size, seed=seed)
    )


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("INVDES_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _make(name="data-ii", profile=None, gen=None, sim=None, **kw):
    profile = profile or tiny_profile()
    gen = gen or FakeGenerator()
    sim = sim or FakeSimulate()
    path = D.generate_dataset(name, profile, generator=gen, simulate=sim, progress=False, **kw)
    return path, profile, gen, sim


def _arrays(path):
    with h5py.File(path, "r") as f:
        return f["z"][...], f["x_packed"][...], f["y"][...]


# ------------------------------------------------------------------------------ basics


def test_unknown_name_lists_allowed():
    for call in (lambda: D.dataset_path("data-iii", "smoke"),
                 lambda: D.load_dataset("mnist", "smoke"),
                 lambda: D.generate_dataset("x", "smoke", generator=FakeGenerator())):
        with pytest.raises(ValueError, match="data-i, data-ii"):
            call()


@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 64, 64), (1, 96, 96), (4, 1, 9)])
def test_pack_roundtrip_exact(shape):
    x = np.random.default_rng(1).integers(0, 2, size=shape, dtype=np.uint8)
    packed, hw = microstructure.pack_images(x)
    assert packed.dtype == np.uint8 and packed.shape == (shape[0], -(-shape[1] * shape[2] // 8))
    back = microstructure.unpack_images(packed, hw)
    assert back.dtype == np.uint8 and np.array_equal(back, x)
    with pytest.raises(ValueError, match="binary"):
        microstructure.pack_images(x * 2)


def test_draw_latents_deterministic_and_distinct():
    cfg = DataConfig(n_samples=10, chunk_size=4, seed=3)
    z0 = D.draw_latents("data-i", cfg, 0)
    assert z0.shape == (4, 9) and z0.dtype == np.float32
    assert np.array_equal(z0, D.draw_latents("data-i", cfg, 0))
    assert D.draw_latents("data-i", cfg, 2).shape == (2, 9)  # short last chunk
    assert not np.array_equal(z0, D.draw_latents("data-i", cfg, 1))
    assert not np.array_equal(z0[:, :4], D.draw_latents("data-ii", cfg, 0))
    big = D.draw_latents("data-ii", DataConfig(n_samples=2000, chunk_size=2000), 0)
    assert big.min() >= -1 and big.max() <= 1 and big.min() < -0.99 and big.max() > 0.99
    with pytest.raises(ValueError, match="chunk_index"):
        D.draw_latents("data-i", cfg, 3)


def test_generator_hash_attribute_or_functional():
    assert D.generator_hash(FakeGenerator(artifact_hash="w123"), "data-i") == "w123"
    h0 = D.generator_hash(FakeGenerator(0), "data-ii")
    assert h0 == D.generator_hash(FakeGenerator(0), "data-ii")
    assert h0 != D.generator_hash(FakeGenerator(1), "data-ii")


# ------------------------------------------------------------------------------ layout


def test_generate_layout_and_load_roundtrip():
    path, profile, gen, sim = _make()
    assert path == D.dataset_path("data-ii", "smoke")
    assert path.exists() and D.record_path(path).exists() and not D.partial_dir(path).exists()
    assert sim.calls == 3 and sim.rows == 10  # chunks 4 + 4 + 2
    with h5py.File(path, "r") as f:
        assert set(f.keys()) == {"z", "x_packed", "y"}
        assert f["z"].shape == (10, 4) and f["z"].dtype == np.float32
        assert f["y"].shape == (10,) and f["y"].dtype == np.float64
        assert f["x_packed"].shape == (10, 64 * 64 // 8) and f["x_packed"].dtype == np.uint8
        assert list(f["x_packed"].attrs["image_shape"]) == [64, 64]
        attrs = {k: json.loads(v) for k, v in f.attrs.items()}
    assert attrs["optics"] == json.loads(json.dumps(dataclasses.asdict(
        profile.optics_for("data-ii"))))
    assert attrs["data_config"] == {"n_samples": 10, "chunk_size": 4, "seed": 0}
    assert attrs["generator"]["hash"] == D.generator_hash(gen, "data-ii")
    assert attrs["provenance"]["seed"] == 0 and "git_commit" in attrs["provenance"]
    assert attrs["x_shape"] == [64, 64] and attrs["n_rows"] == 10

    ds = D.load_dataset("data-ii", profile, generator=gen)
    assert len(ds) == 10 and ds.z.shape == (10, 4) and ds.x.shape == (10, 64, 64)
    assert ds.x.dtype == np.uint8 and ds.y.dtype == np.float64
    z, x, y = ds  # tuple-style unpacking
    assert np.array_equal(x, gen.generate(z))
    np.testing.assert_array_equal(y, FakeSimulate()(x))
    assert np.all((z >= -1) & (z <= 1))
    assert ds.attrs["fingerprint"]["generator_hash"] == attrs["generator"]["hash"]


def test_data_i_shapes():
    path, profile, gen, _ = _make("data-i", tiny_profile(n_samples=3, chunk_size=2))
    ds = D.load_dataset("data-i", profile, generator=gen, verify=3)
    assert ds.z.shape == (3, 9) and ds.x.shape == (3, 96, 96)


def test_determinism_and_seed(tmp_path):
    p1, *_ = _make(out_path=tmp_path / "a" / "d.h5")
    p2, *_ = _make(out_path=tmp_path / "b" / "d.h5")
    p3, *_ = _make(out_path=tmp_path / "c" / "d.h5", profile=tiny_profile(seed=1))
    for a1, a2 in zip(_arrays(p1), _arrays(p2), strict=True):
        assert np.array_equal(a1, a2)
    assert not np.array_equal(_arrays(p1)[0], _arrays(p3)[0])


def test_run_step_writes_both_sets_and_provenance():
    profile = tiny_profile(n_samples=3, chunk_size=2)
    sim = FakeSimulate()
    paths = D.run(profile, generator=FakeGenerator(), simulate=sim, progress=False)
    assert set(paths) == {"data-i", "data-ii"} and all(p.exists() for p in paths.values())
    prov = json.loads((paths["data-i"].parent / "provenance.json").read_text())
    assert set(prov["datasets"]) == {"data-i", "data-ii"} and sim.rows == 6


def test_bad_simulate_output_is_rejected():
    bad = lambda x, n_jobs=None, progress=False: np.zeros(len(x) + 1)  # noqa: E731
    with pytest.raises(ValueError, match="simulate returned shape"):
        _make(sim=bad)
    assert not list(D.partial_dir(D.dataset_path("data-ii", "smoke")).glob("chunk_*.npz"))


# ------------------------------------------------------------------------------ resume


def test_resume_after_exception_is_exact(tmp_path):
    ref, *_ = _make(out_path=tmp_path / "ref" / "d.h5")
    crash = FakeSimulate(fail_after=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _make(sim=crash)
    path = D.dataset_path("data-ii", "smoke")
    part = D.partial_dir(path)
    assert sorted(p.name for p in part.glob("chunk_*.npz")) == ["chunk_00000.npz",
                                                                "chunk_00001.npz"]
    assert not path.exists() and not D.record_path(path).exists()
    again = FakeSimulate()
    _make(sim=again)
    assert again.calls == 1 and again.rows == 2  # only the missing last chunk
    for a, b in zip(_arrays(ref), _arrays(path), strict=True):
        assert np.array_equal(a, b)
    assert not part.exists()


def test_committed_chunks_resume_without_fingerprint_file(tmp_path):
    """A fresh clone has the committed chunk files but not the untracked fingerprint.json:
    the chunks are still resumed (each carries its own fingerprint hash)."""
    ref, *_ = _make(out_path=tmp_path / "ref" / "d.h5")
    with pytest.raises(RuntimeError):
        _make(sim=FakeSimulate(fail_after=2))
    part = D.partial_dir(D.dataset_path("data-ii", "smoke"))
    (part / "fingerprint.json").unlink()
    again = FakeSimulate()
    path, *_ = _make(sim=again)
    assert again.calls == 1 and again.rows == 2  # only the missing last chunk
    for a, b in zip(_arrays(ref), _arrays(path), strict=True):
        assert np.array_equal(a, b)


def test_invalid_chunk_file_is_redone(tmp_path):
    ref, *_ = _make(out_path=tmp_path / "ref" / "d.h5")
    with pytest.raises(RuntimeError):
        _make(sim=FakeSimulate(fail_after=2))
    part = D.partial_dir(D.dataset_path("data-ii", "smoke"))
    c1 = part / "chunk_00001.npz"
    c1.write_bytes(c1.read_bytes()[:100])  # a truncated chunk must not count as complete
    (part / ".chunk_00002.npz.abc.tmp").write_bytes(b"half")  # leftover of a killed write
    again = FakeSimulate()
    path, *_ = _make(sim=again)
    assert again.calls == 2 and again.rows == 6
    for a, b in zip(_arrays(ref), _arrays(path), strict=True):
        assert np.array_equal(a, b)


def _child_main(out: str, marker: str) -> None:  # run in a subprocess by the SIGKILL test
    class Slow(FakeSimulate):
        def __call__(self, images, n_jobs=None, progress=False):
            if self.calls == 1:
                Path(marker).write_text("in chunk 1")
                time.sleep(60)
            return super().__call__(images, n_jobs=n_jobs, progress=progress)

    D.generate_dataset("data-ii", tiny_profile(), generator=FakeGenerator(), simulate=Slow(),
                       out_path=out, progress=False)


def test_resume_after_sigkill(tmp_path):
    ref, *_ = _make(out_path=tmp_path / "ref" / "d.h5")
    out = tmp_path / "killed" / "d.h5"
    marker = tmp_path / "marker"
    code = (f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); import test_data; "
            f"test_data._child_main({str(out)!r}, {str(marker)!r})")
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    try:
        deadline = time.time() + 40
        while not marker.exists():
            assert proc.poll() is None, "child exited before reaching chunk 1"
            assert time.time() < deadline, "child did not reach chunk 1 in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    part = D.partial_dir(out)
    assert [p.name for p in part.glob("chunk_*.npz")] == ["chunk_00000.npz"]
    assert not out.exists()
    again = FakeSimulate()
    _make(sim=again, out_path=out)
    assert again.calls == 2 and again.rows == 6
    for a, b in zip(_arrays(ref), _arrays(out), strict=True):
        assert np.array_equal(a, b)
    assert len(np.unique(_arrays(out)[0], axis=0)) == 10  # no duplicated rows


# ------------------------------------------------------------------------------ reuse


def test_reuse_and_regeneration(caplog):
    caplog.set_level(logging.INFO, logger="invdes.data")
    path, profile, gen, _ = _make()
    sim = FakeSimulate()
    _make(profile=profile, gen=gen, sim=sim)
    assert sim.calls == 0 and "reusing" in caplog.text
    assert D.is_current("data-ii", profile, generator=gen)

    caplog.clear()
    thicker = profile.with_dataset_optics("data-ii", dataclasses.replace(
        profile.optics_for("data-ii"), thickness_nm=250.0))
    assert not D.is_current("data-ii", thicker, generator=gen)
    sim = FakeSimulate()
    _make(profile=thicker, gen=gen, sim=sim)
    assert sim.calls == 3 and "optics" in caplog.text and "generating" in caplog.text

    caplog.clear()
    sim = FakeSimulate()
    _make(profile=thicker, gen=FakeGenerator(seed=1), sim=sim)
    assert sim.calls == 3 and "generator_hash" in caplog.text

    caplog.clear()
    sim = FakeSimulate()
    _make(profile=tiny_profile(n_samples=12), gen=FakeGenerator(seed=1), sim=sim)
    assert sim.calls == 3 and "data" in caplog.text
    assert len(D.load_dataset("data-ii", tiny_profile(n_samples=12), verify=0)) == 12


def test_force_regenerates():
    path, profile, gen, _ = _make()
    sim = FakeSimulate()
    _make(profile=profile, gen=gen, sim=sim, force=True)
    assert sim.calls == 3


def test_lost_h5_rebuilt_from_record_without_simulation():
    path, profile, gen, _ = _make()
    x0 = D.load_dataset("data-ii", profile, generator=gen).x
    path.unlink()
    sim = FakeSimulate()
    _make(profile=profile, gen=gen, sim=sim)  # reuse: rebuilds the cache, no simulation
    assert sim.calls == 0 and path.exists()
    path.unlink()
    ds = D.load_dataset("data-ii", profile, generator=gen)  # npz only: x from z
    assert np.array_equal(ds.x, x0) and path.exists()
    path.unlink()
    with pytest.raises(ArtifactError, match="regenerated from z differ"):
        D.load_dataset("data-ii", profile, generator=FakeGenerator(seed=5))


def test_lost_record_rewritten_from_h5():
    path, profile, gen, _ = _make()
    D.record_path(path).unlink()
    sim = FakeSimulate()
    _make(profile=profile, gen=gen, sim=sim)
    assert sim.calls == 0 and D.record_path(path).exists()


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("which", ["h5", "npz"])
def test_truncated_file_clear_error(which):
    path, profile, gen, _ = _make()
    target = path if which == "h5" else D.record_path(path)
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(ArtifactError) as info:
        D.load_dataset("data-ii", profile, generator=gen)
    msg = str(info.value)
    assert str(target) in msg and REBUILD in msg


def test_corrupted_npz_bytes_clear_error():
    path, profile, gen, _ = _make()
    npz = D.record_path(path)
    raw = bytearray(npz.read_bytes())
    raw[200:260] = bytes(60)  # inside the stored z array
    npz.write_bytes(bytes(raw))
    path.unlink()
    with pytest.raises(ArtifactError, match="invdes reproduce --profile smoke --steps data"):
        D.load_dataset("data-ii", profile, generator=gen)


def test_missing_data_set_clear_error():
    with pytest.raises(ArtifactError, match="no data set 'data-i'.*invdes reproduce"):
        D.load_dataset("data-i", "smoke", verify=0)


def test_verify_catches_tampered_x():
    path, profile, gen, _ = _make()
    with h5py.File(path, "r+") as f:
        f["x_packed"][...] = np.invert(f["x_packed"][...])
    assert len(D.load_dataset("data-ii", profile, verify=0)) == 10  # unverified load passes
    with pytest.raises(ArtifactError, match="regenerated from z differ") as info:
        D.load_dataset("data-ii", profile, generator=gen, verify=4)
    assert str(path) in str(info.value)


def test_stale_load_is_refused():
    path, profile, gen, _ = _make()
    other = profile.with_dataset_optics("data-ii", dataclasses.replace(
        profile.optics_for("data-ii"), n_wavelengths=9))
    with pytest.raises(ArtifactError, match="stale.*optics"):
        D.load_dataset("data-ii", other, generator=gen)
    assert len(D.load_dataset("data-ii", other, generator=gen, strict=False)) == 10


# ------------------------------------------------------------------------------ figure


def test_summary_and_overview_figure():
    rng = np.random.default_rng(0)
    sets = {}
    for name, s in (("data-i", 3), ("data-ii", 2)):
        z = rng.uniform(-1, 1, (40, s * s)).astype(np.float32)
        x = FakeGenerator().generate(z)
        y = FakeSimulate()(x)
        sets[name] = D.Dataset(name, z, x, y)
    st = D.dataset_summary(sets["data-ii"])
    vf = sets["data-ii"].x.reshape(40, -1).mean(1)
    assert st["corr_vf_y"] == pytest.approx(np.corrcoef(vf, sets["data-ii"].y)[0, 1])
    assert st["r2_vf_y"] == pytest.approx(st["corr_vf_y"] ** 2)
    fig = D.plot_dataset_overview(sets, targets=(0.55, 0.6, 0.65, 0.7, 0.75))
    assert len(fig.axes) == 4
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sum("r = " in t and "R$^2$" in t for t in texts) == 2
    assert sum(len(ax.lines) for ax in fig.axes[:1]) >= 5  # five target lines (+ none else)
    fig.savefig(io.BytesIO(), format="png")
