"""Data-I and Data-II: latents z, generated microstructures x and their absorption y.

The data-generation path of the paper (Fig. 1a, red): ``z ~ U[-1, 1]^(s*s)`` -> GAN generator
-> Otsu-binarized image of side ``32*s`` -> optical simulation -> scalar absorption ``y``.
``invdes.config.DATASETS`` maps the data-set name to the latent side ``s`` (Data-I: 3, 96x96
images; Data-II: 2, 64x64 images).

Files (all under ``artifact_dir(profile, "data")``, see :func:`dataset_path`):

- ``<name>.npz``  the small record (committed for the ``paper`` profile): ``z`` (n, s*s)
  float32, ``y`` (n,) float64, a few reference rows of ``x`` (bit-packed) and ``meta`` (JSON:
  fingerprint, configs, generator hash, provenance). ``x`` is reproducible from ``z``.
- ``<name>.h5``   the full data set, a local cache (the authors' layout): datasets ``z``,
  ``x_packed`` (bit-packed images, see :func:`pack_images`) and ``y``, with the same metadata as
  JSON attributes. :func:`load_dataset` rebuilds it from the npz when it is missing.
- ``<name>.partial/``  exists only while a generation is unfinished: one atomically written
  ``chunk_00012.npz`` per finished chunk plus ``fingerprint.json``. A rerun resumes from it.

Crash safety: every file is written to a temporary name and renamed into place
(:func:`invdes.artifacts.atomic_path`), so a chunk file is either complete or absent; latents are
drawn per chunk from ``np.random.default_rng([seed, dataset_index, chunk_index])``, so a resumed
run yields exactly the rows of an uninterrupted one. The final files are assembled from the
chunks (h5 first, npz last: the npz marks completion) and the partial folder is then removed.

Reuse: a finished data set is reused only when its recorded fingerprint (data set, optics
config, data config, generator hash) equals the current one; otherwise it is regenerated and a
log line says which part differed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from invdes.artifacts import (
    ArtifactError,
    artifact_dir,
    atomic_path,
    provenance,
    rebuild_command,
    write_json,
    write_provenance,
)
from invdes.config import DATASETS, TARGETS, DataConfig, Profile, get_profile, to_dict
from invdes.microstructure import generate_images, pack_images, unpack_images
from invdes.parallel import Scheduler

log = logging.getLogger(__name__)

STEP = "data"
FORMAT_VERSION = 1
#: Rows per call of the generator (bounds the generator's memory; does not change results).
#: Number of reference rows of x kept (bit-packed) in the npz record to check rebuilt images.
N_REFERENCE_ROWS = 16
#: Default for ``pixel_tolerance``: fraction of pixels per image allowed to differ when images
#: are regenerated from z (a different machine may flip a pixel that sits on Otsu's threshold).
PIXEL_TOLERANCE = 1e-3
_PROBE_SEED = 20_201_231  # latents of the functional generator fingerprint


# --------------------------------------------------------------------------------------------
# Names, paths, latents, packing
# --------------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    """Return the canonical data-set name; ValueError listing the allowed names otherwise."""
    key = str(name).strip().lower()
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: allowed names are {', '.join(DATASETS)}")
    return key


def latent_side(name: str) -> int:
    """Latent side ``s`` of data set ``name`` (the latent has ``s*s`` entries)."""
    return DATASETS[check_name(name)]


def image_side(name: str) -> int:
    """Image side (pixels) of data set ``name``: ``32 * latent_side(name)``."""
    return 32 * latent_side(name)


def _resolve_profile(profile: Profile | str | None) -> Profile:
    if isinstance(profile, Profile):
        return profile
    return get_profile(profile)


def dataset_path(name: str, profile_name: str, *, create: bool = True) -> Path:
    """Path of the full HDF5 data set ``<artifacts>/<profile>/data/<name>.h5`` (a local cache).

    The committed record lies beside it (:func:`record_path`).
    """
    return artifact_dir(profile_name, STEP, create=create) / f"{check_name(name)}.h5"


def record_path(h5_path: str | os.PathLike) -> Path:
    """The small npz record (z, y, metadata) that belongs to the HDF5 file ``h5_path``."""
    return Path(h5_path).with_suffix(".npz")


def partial_dir(h5_path: str | os.PathLike) -> Path:
    """The folder of finished chunks of an unfinished generation of ``h5_path``."""
    p = Path(h5_path)
    return p.with_name(p.stem + ".partial")


def chunk_bounds(n_samples: int, chunk_size: int) -> list[tuple[int, int]]:
    """Row ranges ``[(start, stop), ...]`` of the chunks; the last one may be shorter."""
    if n_samples < 1 or chunk_size < 1:
        raise ValueError(
            f"need n_samples >= 1 and chunk_size >= 1; got n_samples={n_samples}, "
            f"chunk_size={chunk_size}"
        )
    return [(a, min(a + chunk_size, n_samples)) for a in range(0, n_samples, chunk_size)]


def draw_latents(name: str, config: DataConfig, chunk_index: int) -> np.ndarray:
    """Latents of chunk ``chunk_index``: shape (rows, s*s), float32, uniform on [-1, 1].

    Drawn from ``np.random.default_rng([seed, dataset_index, chunk_index])``, so each chunk is
    reproducible on its own (what makes resuming exact).
    """
    name = check_name(name)
    bounds = chunk_bounds(config.n_samples, config.chunk_size)
    if not 0 <= chunk_index < len(bounds):
        raise ValueError(f"chunk_index must lie in [0, {len(bounds) - 1}]; got {chunk_index}")
    start, stop = bounds[chunk_index]
    s = DATASETS[name]
    rng = np.random.default_rng([config.seed, list(DATASETS).index(name), chunk_index])
    return rng.uniform(-1.0, 1.0, size=(stop - start, s * s)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Generator and simulator adapters
# --------------------------------------------------------------------------------------------


def _default_generator(profile: Profile):
    from invdes.gan.generator import load_generator  # lazy: TensorFlow only when really needed

    return load_generator(profile.name)


def _default_simulate(profile: Profile, name: str) -> Callable[..., np.ndarray]:
    from invdes.physics.optics import absorption  # lazy

    return functools.partial(absorption, config=profile.optics_for(name))


def generator_hash(generator, name: str) -> str:
    """Identity of ``generator`` recorded with a data set (16 hex digits).

    Uses ``generator.artifact_hash`` (a string, e.g. the hash of the saved weights) when the
    generator has one; otherwise a functional fingerprint: the SHA-256 of the images it
    generates for four fixed latents of data set ``name``.
    """
    value = getattr(generator, "artifact_hash", None)
    if isinstance(value, str) and value:
        return value
    s = latent_side(name)
    z = np.random.default_rng(_PROBE_SEED).uniform(-1.0, 1.0, size=(4, s * s)).astype(np.float32)
    x = generate_images(generator, z, 32 * s)
    return "images:" + hashlib.sha256(np.packbits(x).tobytes()).hexdigest()[:16]


def _generator_info(generator, ghash: str) -> dict:
    info: dict[str, Any] = {"hash": ghash, "type": type(generator).__name__}
    prov = getattr(generator, "provenance", None)
    if isinstance(prov, Mapping):
        info["provenance"] = json.loads(json.dumps(dict(prov), default=str))
    return info


def _simulate_chunk(simulate, x: np.ndarray, n_jobs, chunk_index: int) -> np.ndarray:
    y = np.asarray(simulate(x, n_jobs=n_jobs, progress=False), dtype=np.float64)
    if y.shape != (x.shape[0],):
        raise ValueError(
            f"simulate returned shape {y.shape} for chunk {chunk_index}; expected ({x.shape[0]},)"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"simulate returned non-finite absorption in chunk {chunk_index}")
    return y


# --------------------------------------------------------------------------------------------
# Metadata and file I/O
# --------------------------------------------------------------------------------------------


def fingerprint(name: str, profile: Profile, ghash: str) -> dict:
    """What a data set depends on: name, latent side, optics and data configs, generator hash."""
    name = check_name(name)
    return {
        "format_version": FORMAT_VERSION,
        "dataset": name,
        "latent_side": DATASETS[name],
        "optics": to_dict(profile.optics_for(name)),
        "data": to_dict(profile.data),
        "generator_hash": ghash,
    }


def _fp_hash(fp: dict) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]


def _fp_differences(recorded: Mapping | None, current: Mapping, keys=None) -> list[str]:
    if not isinstance(recorded, Mapping):
        return ["no recorded fingerprint"]
    keys = keys or list(current)
    return [k for k in keys if recorded.get(k) != current.get(k)]


def _zy_hash(z: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(z, dtype="<f4").tobytes())
    h.update(np.ascontiguousarray(y, dtype="<f8").tobytes())
    return h.hexdigest()[:16]


def _artifact_error(path: Path, problem: str, profile_name: str, hint: str = "") -> ArtifactError:
    return ArtifactError(
        f"{path}: {problem}. Rebuild it with: {rebuild_command(profile_name, STEP)}{hint}"
    )


def _save_npz_atomic(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez must not append ".npz"
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())


def _write_h5(path: Path, z: np.ndarray, x: np.ndarray, y: np.ndarray, meta: dict) -> None:
    import h5py

    packed, shape = pack_images(x)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("z", data=np.asarray(z, dtype=np.float32), fletcher32=True)
            ds = f.create_dataset("x_packed", data=packed, fletcher32=True)
            ds.attrs["image_shape"] = np.asarray(shape, dtype=np.int64)
            f.create_dataset("y", data=np.asarray(y, dtype=np.float64), fletcher32=True)
            for key, value in meta.items():
                f.attrs[key] = json.dumps(value, sort_keys=True)


def _read_h5(path: Path, profile_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(z, x, y, meta) of an HDF5 data set; ArtifactError naming the file when unreadable."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            z = np.asarray(f["z"][...], dtype=np.float32)
            y = np.asarray(f["y"][...], dtype=np.float64)
            if "x_packed" in f:
                ds = f["x_packed"]
                x = unpack_images(ds[...], tuple(ds.attrs["image_shape"]))
            else:  # the authors' plain layout
                x = np.asarray(f["x"][...]).astype(np.uint8)
            meta = {}
            for key, value in f.attrs.items():
                try:
                    meta[key] = json.loads(value)
                except (TypeError, ValueError):
                    meta[key] = value
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise _artifact_error(path, f"cannot read the HDF5 data set ({exc})", profile_name) from exc
    n = z.shape[0]
    if z.ndim != 2 or y.shape != (n,) or x.ndim != 3 or x.shape[0] != n:
        raise _artifact_error(
            path,
            f"inconsistent shapes z {z.shape}, x {x.shape}, y {y.shape}",
            profile_name,
        )
    if "zy_sha256" in meta and meta["zy_sha256"] != _zy_hash(z, y):
        raise _artifact_error(path, "content hash of z and y does not match", profile_name)
    return z, x, y, meta


def _write_record(
    path: Path, z: np.ndarray, x_ref_index: np.ndarray, x_ref: np.ndarray, y: np.ndarray,
    meta: dict,
) -> None:
    packed, _ = pack_images(x_ref)
    _save_npz_atomic(
        path,
        z=np.asarray(z, dtype=np.float32),
        y=np.asarray(y, dtype=np.float64),
        x_ref_index=np.asarray(x_ref_index, dtype=np.int64),
        x_ref_packed=packed,
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )


def _read_record(path: Path, profile_name: str) -> dict:
    """Contents of an npz record: z, y, x_ref_index, x_ref (unpacked), meta."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            z = np.asarray(f["z"], dtype=np.float32)
            y = np.asarray(f["y"], dtype=np.float64)
            idx = np.asarray(f["x_ref_index"], dtype=np.int64)
            x_ref = unpack_images(f["x_ref_packed"], tuple(meta["x_shape"]))
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        problem = f"cannot read the data-set record ({exc})"
        raise _artifact_error(path, problem, profile_name) from exc
    n = z.shape[0]
    if z.ndim != 2 or y.shape != (n,) or idx.shape != (x_ref.shape[0],):
        raise _artifact_error(path, f"inconsistent shapes z {z.shape}, y {y.shape}", profile_name)
    if meta.get("zy_sha256") != _zy_hash(z, y):
        raise _artifact_error(path, "content hash of z and y does not match", profile_name)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise _artifact_error(path, "reference row index out of range", profile_name)
    return {"z": z, "y": y, "x_ref_index": idx, "x_ref": x_ref, "meta": meta}


def _reference_rows(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(N_REFERENCE_ROWS, n)).round().astype(np.int64))


def _try_meta(path: Path, profile_name: str) -> tuple[dict | None, str | None]:
    """(meta, problem) of an npz record or HDF5 file; problem is a reason it cannot be used."""
    if not path.exists():
        return None, f"no file {path}"
    try:
        if path.suffix == ".npz":
            return _read_record(path, profile_name)["meta"], None
        return _read_h5(path, profile_name)[3], None
    except ArtifactError as exc:
        return None, str(exc)


# --------------------------------------------------------------------------------------------
# The data set
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Dataset:
    """One data set: ``z`` (n, s*s) float32, ``x`` (n, 32s, 32s) uint8 in {0, 1}, ``y`` (n,)
    float64 (band-averaged absorption, dimensionless), ``attrs`` (recorded metadata).

    Unpacks like a tuple: ``z, x, y = load_dataset("data-i", profile)``.
    """

    name: str
    z: np.ndarray
    x: np.ndarray
    y: np.ndarray
    attrs: dict = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __iter__(self):
        return iter((self.z, self.x, self.y))

    @property
    def volume_fraction(self) -> np.ndarray:
        """Fraction of phase-1 (minority) pixels per image, shape (n,)."""
        return self.x.reshape(len(self), -1).mean(axis=1)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, n={len(self)}, z={self.z.shape}, x={self.x.shape}, "
            f"y in [{self.y.min():.4f}, {self.y.max():.4f}])"
        )


def _stale_reason(meta: dict | None, problem: str | None, fp: dict) -> str | None:
    if meta is None:
        return problem or "no data set"
    diff = _fp_differences(meta.get("fingerprint"), fp)
    if diff:
        return "recorded " + ", ".join(diff) + " differ(s) from the current one"
    return None


def is_current(
    name: str,
    profile: Profile | str | None = None,
    *,
    generator=None,
    path: str | os.PathLike | None = None,
) -> bool:
    """True when the finished data set ``name`` exists (its npz record) and its recorded optics
    config, data config and generator hash equal the current ones. Logs the reason when not.

    ``generator`` defaults to ``invdes.gan.generator.load_generator(profile.name)`` (needed
    for its hash).
    """
    name = check_name(name)
    profile = _resolve_profile(profile)
    h5 = Path(path) if path is not None else dataset_path(name, profile.name)
    generator = generator if generator is not None else _default_generator(profile)
    fp = fingerprint(name, profile, generator_hash(generator, name))
    reason = _stale_reason(*_try_meta(record_path(h5), profile.name), fp)
    if reason is not None:
        log.info("%s (%s): not current: %s", name, profile.name, reason)
    return reason is None


def _cleanup_tmp(folder: Path, prefix: str) -> None:
    for tmp in folder.glob(f".{prefix}*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass


def _load_chunk(path: Path, expected_z: np.ndarray, fp_hash: str, side: int):
    """(z, x, y, seconds) of a finished chunk file, or None when it is not a valid chunk."""
    try:
        with np.load(path, allow_pickle=False) as f:
            z = np.asarray(f["z"])
            x = unpack_images(f["x_packed"], (side, side))
            y = np.asarray(f["y"], dtype=np.float64)
            ok = (
                str(f["fingerprint_hash"]) == fp_hash
                and z.dtype == np.float32
                and np.array_equal(z, expected_z)
                and y.shape == (z.shape[0],)
                and x.shape[0] == z.shape[0]
                and bool(np.all(np.isfinite(y)))
            )
            seconds = float(f["seconds"])
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    return (z, x, y, seconds) if ok else None


def _local_chunks(name: str, cfg: DataConfig, generator, side: int, simulate, n_jobs,
                  pending: list[int], bar):
    """The local path of :func:`generate_dataset`: yield ``(i, z, x, y, seconds)`` per pending
    chunk, generated here and simulated with ``simulate``; ``bar`` advances after each chunk
    is stored."""
    for i in pending:
        t0 = time.perf_counter()
        z = draw_latents(name, cfg, i)
        x = generate_images(generator, z, side)
        y = _simulate_chunk(simulate, x, n_jobs, i)
        yield i, z, x, y, time.perf_counter() - t0
        bar.update(len(z))


def generate_dataset(
    name: str,
    profile: Profile | str | None = None,
    *,
    generator=None,
    simulate: Callable[..., np.ndarray] | None = None,
    out_path: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    force: bool = False,
    resume: bool = True,
    scheduler: Scheduler = None,
) -> Path:
    """Generate (or reuse) data set ``name``; return the path of its HDF5 file.

    Rows are produced in chunks of ``profile.data.chunk_size``: latents
    (:func:`draw_latents`), images ``generator.generate(z)`` and absorption
    ``simulate(x, n_jobs=n_jobs, progress=False)``; each finished chunk is written atomically to
    ``<name>.partial/chunk_NNNNN.npz``, so an interrupted run loses at most the chunk in flight and
    a rerun resumes exactly. At the end the chunks are assembled into ``<name>.h5`` and the small
    record ``<name>.npz`` (see the module docstring), and the partial folder is removed.

    Parameters
    ----------
    generator : object with ``.generate(z) -> (n, 32s, 32s) uint8``; default
        ``invdes.gan.generator.load_generator(profile.name)``.
    simulate : ``simulate(images, n_jobs=..., progress=...) -> (n,)``; default
        ``functools.partial(invdes.physics.optics.absorption,
        config=profile.optics_for(name))``.
    out_path : HDF5 path; default :func:`dataset_path`. The record and partial folder lie beside.
    force : regenerate even when the finished data set is current. Chunks of an interrupted run
        with the same fingerprint are still resumed (they are the rows a fresh run would make);
        ``resume=False`` discards them.
    scheduler : a Dask scheduler address or :class:`invdes.parallel.Cluster`: the chunks are
        simulated there (:func:`invdes.cluster_sweeps.simulate_data_chunks`) and written here,
        the same files as without it; ``simulate`` must then be None. Default: local joblib.
    """
    name = check_name(name)
    if scheduler is not None and simulate is not None:
        raise ValueError("pass either simulate= or scheduler=, not both")
    profile = _resolve_profile(profile)
    cfg = profile.data
    bounds = chunk_bounds(cfg.n_samples, cfg.chunk_size)
    side = image_side(name)
    h5 = Path(out_path) if out_path is not None else dataset_path(name, profile.name)
    h5.parent.mkdir(parents=True, exist_ok=True)
    npz = record_path(h5)
    part = partial_dir(h5)
    for final in (h5, npz):  # temporary files of a write that was killed
        _cleanup_tmp(h5.parent, final.name + ".")

    generator = generator if generator is not None else _default_generator(profile)
    ghash = generator_hash(generator, name)
    fp = fingerprint(name, profile, ghash)
    fp_hash = _fp_hash(fp)

    if not force:
        record_meta, record_problem = _try_meta(npz, profile.name)
        reason = _stale_reason(record_meta, record_problem, fp)
        if reason is None:
            log.info("%s (%s): reusing %s (configs and generator unchanged)", name, profile.name,
                     npz)
            _ensure_cache(h5, name, profile, generator)
            return h5
        h5_meta, _ = _try_meta(h5, profile.name)
        if _stale_reason(h5_meta, None, fp) is None:  # the record is lost but the cache is fine
            log.info("%s (%s): rewriting the record %s from %s", name, profile.name, npz, h5)
            z, x, y, meta = _read_h5(h5, profile.name)
            idx = _reference_rows(len(y))
            _write_record(npz, z, idx, x[idx], y, meta)
            return h5
        log.info("%s (%s): %s -> generating", name, profile.name, reason)
    else:
        log.info("%s (%s): force -> generating", name, profile.name)

    if simulate is None:
        simulate = _default_simulate(profile, name)

    # the partial folder: resume only chunks made with exactly this fingerprint
    meta_file = part / "fingerprint.json"
    if part.exists():
        try:
            old = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            old = None
        # no readable fingerprint.json (a fresh clone of committed chunks: the file is not
        # tracked): keep the chunks, each is checked against its own fingerprint hash below
        if not resume or (old is not None and old != fp):
            why = "resume=False" if not resume else "its fingerprint differs"
            log.info("%s (%s): discarding unfinished chunks in %s (%s)", name, profile.name,
                     part, why)
            shutil.rmtree(part)
    part.mkdir(parents=True, exist_ok=True)
    _cleanup_tmp(part, "chunk_")
    if not meta_file.exists():
        write_json(meta_file, fp)

    chunks: dict[int, tuple] = {}
    for i in range(len(bounds)):
        cpath = part / f"chunk_{i:05d}.npz"
        if cpath.exists():
            loaded = _load_chunk(cpath, draw_latents(name, cfg, i), fp_hash, side)
            if loaded is None:
                log.warning("%s: %s is not a valid finished chunk; redoing it", name, cpath)
                cpath.unlink()
            else:
                chunks[i] = loaded
    done_rows = sum(c[0].shape[0] for c in chunks.values())
    if chunks:
        log.info("%s (%s): resuming: %d of %d chunks (%d of %d rows) already done", name,
                 profile.name, len(chunks), len(bounds), done_rows, cfg.n_samples)

    from tqdm import tqdm

    with tqdm(total=cfg.n_samples, initial=done_rows, unit="row", desc=f"{name} ({profile.name})",
              disable=not progress, dynamic_ncols=True) as bar:
        pending = [i for i in range(len(bounds)) if i not in chunks]
        if scheduler is None:
            produced = _local_chunks(name, cfg, generator, side, simulate, n_jobs, pending, bar)
        else:  # --- cluster hook: workers simulate (invdes.cluster_sweeps), this process writes
            from invdes.cluster_sweeps import simulate_data_chunks

            produced = simulate_data_chunks(
                scheduler, name, profile, generator,
                {i: draw_latents(name, cfg, i) for i in pending}, bar=bar)
        for i, z, x, y, seconds in produced:
            packed, _ = pack_images(x)
            _save_npz_atomic(part / f"chunk_{i:05d}.npz", z=z, x_packed=packed, y=y,
                             chunk_index=np.int64(i), seconds=np.float64(seconds),
                             fingerprint_hash=np.array(fp_hash))
            chunks[i] = (z, x, y, seconds)

    z = np.concatenate([chunks[i][0] for i in range(len(bounds))])
    x = np.concatenate([chunks[i][1] for i in range(len(bounds))])
    y = np.concatenate([chunks[i][2] for i in range(len(bounds))])
    if z.shape[0] != cfg.n_samples:  # cannot happen; guard against silent row loss
        raise RuntimeError(f"assembled {z.shape[0]} rows; expected {cfg.n_samples}")
    seconds = float(sum(c[3] for c in chunks.values()))
    meta = {
        "format_version": FORMAT_VERSION,
        "dataset": name,
        "n_rows": int(cfg.n_samples),
        "x_shape": [side, side],
        "fingerprint": fp,
        "optics": to_dict(profile.optics_for(name)),
        "data_config": to_dict(cfg),
        "generator": _generator_info(generator, ghash),
        "zy_sha256": _zy_hash(z, y),
        "provenance": provenance(
            {"dataset": name, "optics": profile.optics_for(name), "data": cfg,
             "generator_hash": ghash},
            seed=cfg.seed, wall_time_s=seconds, profile=profile.name, n_chunks=len(bounds),
        ),
    }
    _write_h5(h5, z, x, y, meta)
    idx = _reference_rows(cfg.n_samples)
    _write_record(npz, z, idx, x[idx], y, meta)  # written last: marks the data set complete
    shutil.rmtree(part, ignore_errors=True)
    log.info("%s (%s): wrote %s and %s (%d rows, %.1f s of generation)", name, profile.name, h5,
             npz, cfg.n_samples, seconds)
    return h5


def _check_images_match(
    x_new: np.ndarray, x_old: np.ndarray, rows: np.ndarray, path: Path, profile_name: str,
    pixel_tolerance: float,
) -> None:
    if x_new.shape != x_old.shape:
        raise _artifact_error(
            path, f"stored images have shape {x_old.shape[1:]} but the generator makes "
            f"{x_new.shape[1:]}", profile_name,
        )
    frac = (x_new != x_old).reshape(len(rows), -1).mean(axis=1)
    bad = np.nonzero(frac > pixel_tolerance)[0]
    if bad.size:
        worst = ", ".join(f"row {int(rows[k])}: {frac[k]:.2%}" for k in bad[:5])
        raise _artifact_error(
            path,
            f"images regenerated from z differ from the stored ones in {bad.size} of {len(rows)} "
            f"checked rows (pixels differing: {worst}; tolerance {pixel_tolerance:.2%}); the data "
            "set does not belong to the current generator or was altered",
            profile_name,
        )


def _rebuild_from_record(
    record: dict, npz: Path, generator, name: str, profile: Profile, pixel_tolerance: float,
) -> np.ndarray:
    meta = record["meta"]
    recorded = meta.get("generator", {}).get("hash")
    current = generator_hash(generator, name)
    if recorded != current:
        log.warning("%s: generator hash %s differs from the recorded %s; checking reference rows",
                    name, current, recorded)
    log.info("%s (%s): rebuilding x from z with the generator (%d rows)", name, profile.name,
             len(record["y"]))
    x = generate_images(generator, record["z"], image_side(name))
    idx = record["x_ref_index"]
    _check_images_match(x[idx], record["x_ref"], idx, npz, profile.name, pixel_tolerance)
    return x


def _ensure_cache(h5: Path, name: str, profile: Profile, generator) -> None:
    """Write the HDF5 cache from the npz record when it is missing or belongs to other data."""
    npz = record_path(h5)
    record = _read_record(npz, profile.name)
    if h5.exists():
        meta, _ = _try_meta(h5, profile.name)
        if meta is not None and meta.get("zy_sha256") == record["meta"]["zy_sha256"]:
            return
    x = _rebuild_from_record(record, npz, generator, name, profile, PIXEL_TOLERANCE)
    _write_h5(h5, record["z"], x, record["y"], record["meta"])


def load_dataset(
    name: str,
    profile_or_name: Profile | str | None = None,
    *,
    verify: int = 8,
    generator=None,
    path: str | os.PathLike | None = None,
    strict: bool = True,
    cache: bool = True,
    pixel_tolerance: float = PIXEL_TOLERANCE,
) -> Dataset:
    """Load data set ``name`` of a profile (a Profile, its name, or None for ``$INVDES_PROFILE``).

    Reads the HDF5 file when it exists and matches the npz record; otherwise rebuilds ``x`` from
    the record's ``z`` with the generator (checking the record's reference rows) and, with
    ``cache=True``, writes the HDF5 file.

    verify : number of random rows (fixed seed) whose images are regenerated from z and compared
        with the stored ones; ArtifactError when more than ``pixel_tolerance`` of a row's pixels
        differ. 0 disables (and avoids loading the generator when the HDF5 file exists).
    strict : ArtifactError when the recorded optics or data config differs from the profile's.
    generator : default ``invdes.gan.generator.load_generator(profile.name)``, loaded only
        when needed.

    Raises ArtifactError (naming the file and the rebuild command) when the files are missing,
    truncated, corrupted or stale; ValueError for an unknown ``name``.
    """
    name = check_name(name)
    profile = _resolve_profile(profile_or_name)
    h5 = Path(path) if path is not None else dataset_path(name, profile.name, create=False)
    npz = record_path(h5)
    if not h5.exists() and not npz.exists():
        raise _artifact_error(npz, f"no data set {name!r} for profile {profile.name!r}",
                              profile.name)
    record = _read_record(npz, profile.name) if npz.exists() else None
    stored = None
    if h5.exists():
        try:
            stored = _read_h5(h5, profile.name)
        except ArtifactError as exc:
            hint = f" (or delete {h5}: it is rebuilt from {npz})" if record is not None else ""
            raise ArtifactError(f"{exc}{hint}") from exc.__cause__
        if record is not None and stored[3].get("zy_sha256") != record["meta"]["zy_sha256"]:
            log.info("%s: %s does not match the record %s; rebuilding it", name, h5, npz)
            stored = None
    meta = stored[3] if stored is not None else record["meta"]
    src = h5 if stored is not None else npz

    if strict:
        current = {"optics": to_dict(profile.optics_for(name)), "data": to_dict(profile.data),
                   "dataset": name}
        if not isinstance(meta.get("fingerprint"), Mapping):
            raise _artifact_error(
                src, "no recorded configuration (pass strict=False to load it anyway)",
                profile.name,
            )
        diff = _fp_differences(meta.get("fingerprint"), current)
        if diff:
            raise _artifact_error(
                src, f"stale data set: recorded {', '.join(diff)} differ(s) from profile "
                f"{profile.name!r}", profile.name,
            )

    if generator is None and (stored is None or verify > 0):
        generator = _default_generator(profile)
    if stored is not None:
        z, x, y, _ = stored
        if verify > 0:
            rows = np.sort(np.random.default_rng(0).choice(len(y), min(verify, len(y)),
                                                          replace=False))
            x_new = generate_images(generator, z[rows], x.shape[1])
            _check_images_match(x_new, x[rows], rows, h5, profile.name, pixel_tolerance)
    else:
        z, y = record["z"], record["y"]
        x = _rebuild_from_record(record, npz, generator, name, profile, pixel_tolerance)
        if cache:
            _write_h5(h5, z, x, y, meta)
    return Dataset(name=name, z=z, x=x, y=y, attrs=meta, path=src)


def run(
    profile: Profile | str | None = None,
    *,
    names: tuple[str, ...] = tuple(DATASETS),
    force: bool = False,
    n_jobs: int | None = None,
    progress: bool = True,
    generator=None,
    simulate=None,
    scheduler: Scheduler = None,
) -> dict[str, Path]:
    """The ``data`` step: generate (or reuse) every data set of a profile; {name: h5 path}.

    ``scheduler`` (address or :class:`invdes.parallel.Cluster`): simulate on that Dask cluster
    (see :func:`generate_dataset`); connected once for all data sets.

    Also writes ``provenance.json`` in the step folder (configs, and per data set its
    generator hash, content hash and generation time), for the step-level bookkeeping.
    """
    profile = _resolve_profile(profile)
    generator = generator if generator is not None else _default_generator(profile)
    from invdes.parallel import using  # cluster hook: one connection for every data set

    with using(scheduler) as cluster:
        paths = {
            n: generate_dataset(n, profile, generator=generator, simulate=simulate,
                                n_jobs=n_jobs, progress=progress, force=force,
                                scheduler=cluster)
            for n in names
        }
    records = {n: _read_record(record_path(p), profile.name)["meta"] for n, p in paths.items()}
    write_provenance(
        artifact_dir(profile.name, STEP),
        provenance(
            {"optics": {n: to_dict(profile.optics_for(n)) for n in names},
             "data": profile.data}, seed=profile.data.seed,
            wall_time_s=sum(m["provenance"]["wall_time_s"] for m in records.values()),
            datasets={n: {"generator_hash": m["fingerprint"]["generator_hash"],
                          "zy_sha256": m["zy_sha256"], "n_rows": m["n_rows"],
                          "created": m["provenance"]["created"]} for n, m in records.items()},
        ),
    )
    return paths


# --------------------------------------------------------------------------------------------
# Summary and figures (book chapter 4)
# --------------------------------------------------------------------------------------------


def dataset_summary(ds: Dataset) -> dict:
    """Statistics of a data set: size, y (mean, std, min, 5/50/95th percentiles, max), volume
    fraction (mean, std), Pearson r between volume fraction and y, and R^2 of the linear fit
    (= r^2)."""
    y = ds.y
    vf = ds.volume_fraction
    if len(y) > 1 and np.std(vf) > 0 and np.std(y) > 0:
        r = float(np.corrcoef(vf, y)[0, 1])
    else:
        r = float("nan")
    p5, p50, p95 = np.percentile(y, [5, 50, 95])
    return {
        "name": ds.name, "n": len(ds), "image_side": int(ds.x.shape[1]),
        "latent_dim": int(ds.z.shape[1]),
        "y_mean": float(y.mean()), "y_std": float(y.std()), "y_min": float(y.min()),
        "y_p5": float(p5), "y_p50": float(p50), "y_p95": float(p95), "y_max": float(y.max()),
        "vf_mean": float(vf.mean()), "vf_std": float(vf.std()),
        "corr_vf_y": r, "r2_vf_y": r * r,
    }


def plot_dataset_overview(datasets: Mapping[str, Dataset], targets=TARGETS, *, bins: int = 30):
    """Figure: per data set (columns), a histogram of y with the targets marked (top) and y
    against volume fraction with Pearson r and R^2 of the linear fit (bottom).

    Returns a ``matplotlib.figure.Figure`` (not registered with pyplot).
    """
    from matplotlib.figure import Figure

    if not datasets:
        raise ValueError("datasets is empty: pass {name: Dataset}")
    targets = [float(t) for t in targets]
    k = len(datasets)
    fig = Figure(figsize=(4.6 * k, 7.0), layout="constrained")
    axes = fig.subplots(2, k, squeeze=False)
    for j, (name, ds) in enumerate(datasets.items()):
        st = dataset_summary(ds)
        ax = axes[0, j]
        ax.hist(ds.y, bins=bins, color="C0", alpha=0.8)
        for t in targets:
            ax.axvline(t, color="C3", ls="--", lw=1.2)
        lo = min(float(ds.y.min()), *targets) - 0.02
        hi = max(float(ds.y.max()), *targets) + 0.02
        ax.set_xlim(lo, hi)
        ax.set_title(f"{name}: {st['n']} samples, {st['image_side']}x{st['image_side']} px")
        ax.set_xlabel("absorption y")
        ax.set_ylabel("count")
        ax.text(0.02, 0.97, f"mean {st['y_mean']:.3f}, std {st['y_std']:.3f}\n"
                f"dashed: targets", transform=ax.transAxes, va="top", fontsize=8)

        ax = axes[1, j]
        vf = ds.volume_fraction
        ax.scatter(vf, ds.y, s=6, alpha=0.5, color="C0")
        if np.isfinite(st["corr_vf_y"]):
            slope, icpt = np.polyfit(vf, ds.y, 1)
            xs = np.linspace(vf.min(), vf.max(), 2)
            ax.plot(xs, slope * xs + icpt, color="C1", lw=1.5)
        ax.text(0.02, 0.97, f"r = {st['corr_vf_y']:.2f}, R$^2$ = {st['r2_vf_y']:.2f}",
                transform=ax.transAxes, va="top")
        ax.set_xlabel("volume fraction of phase 1")
        ax.set_ylabel("absorption y")
    return fig


__all__ = [
    "Dataset", "chunk_bounds", "check_name", "dataset_path", "dataset_summary", "draw_latents",
    "fingerprint", "generate_dataset", "generator_hash", "image_side",
    "is_current", "latent_side", "load_dataset", "partial_dir",
    "plot_dataset_overview", "record_path", "run",
]
