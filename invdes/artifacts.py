"""Artifacts: cached results with provenance, written atomically.

Layout: ``<root>/<profile>/<step>/`` holds the step's files plus ``provenance.json`` with the
config (and its hash), seed, git commit, wall time and machine. A step reuses an artifact only
when the recorded config hash equals the current one (:func:`is_current`).

The root is ``artifacts/`` at the repository root, or ``$INVDES_ARTIFACTS`` when set (tests point
it at a temporary folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from invdes.config import config_hash, to_dict

ARTIFACTS_ENV = "INVDES_ARTIFACTS"
REPO_ROOT = Path(__file__).resolve().parent.parent
PROVENANCE_FILE = "provenance.json"


class ArtifactError(RuntimeError):
    """A missing, corrupted or mismatched artifact; the message names the file and the fix."""


def artifact_root() -> Path:
    return Path(os.environ.get(ARTIFACTS_ENV, REPO_ROOT / "artifacts"))


def artifact_dir(profile: str, step: str, *, create: bool = True) -> Path:
    path = artifact_root() / profile / step
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def rebuild_command(profile: str, step: str) -> str:
    return f"invdes reproduce --profile {profile} --steps {step} --force"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or interruption inside the block leaves ``path`` untouched (old content or absent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike, data: dict | list) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _read_git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return (commit + ("+dirty" if dirty else "")) if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


#: The commit of the code this process runs: read once, when the package is imported, so that a
#: long step records the code it started with even if the tree changes before it ends.
_COMMIT_AT_IMPORT = _read_git_commit()


def git_commit() -> str:
    """HEAD of the repository when this process imported invdes (``+dirty`` with uncommitted
    changes to tracked files); ``$INVDES_GIT_COMMIT`` overrides it (for copies of the tree
    without .git, such as a remote machine)."""
    if os.environ.get("INVDES_GIT_COMMIT"):
        return os.environ["INVDES_GIT_COMMIT"]
    return _COMMIT_AT_IMPORT


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def provenance(configs: dict, *, seed: int | None, wall_time_s: float, **extra) -> dict:
    """Provenance record: the configs (by name), their joint hash, seed, commit, time, machine."""
    cfg = {k: (to_dict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in configs.items()}
    return {
        "config": cfg,
        "config_hash": config_hash(*[cfg[k] for k in sorted(cfg)]),
        "seed": seed,
        "git_commit": git_commit(),
        "wall_time_s": round(float(wall_time_s), 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        **extra,
    }


def expected_hash(configs: dict) -> str:
    cfg = {k: (to_dict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in configs.items()}
    return config_hash(*[cfg[k] for k in sorted(cfg)])


def read_provenance(directory: str | os.PathLike) -> dict | None:
    path = Path(directory) / PROVENANCE_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_current(directory: str | os.PathLike, configs: dict, required: tuple[str, ...] = ()) -> bool:
    """True when ``directory`` holds a provenance whose config hash matches ``configs`` and all
    ``required`` files exist."""
    prov = read_provenance(directory)
    if prov is None or prov.get("config_hash") != expected_hash(configs):
        return False
    return all((Path(directory) / name).exists() for name in required)


def write_provenance(directory: str | os.PathLike, record: dict) -> None:
    write_json(Path(directory) / PROVENANCE_FILE, record)


class Timer:
    """``with Timer() as t: ...; t.seconds``"""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


def cached_arrays(profile: str, step: str, configs: dict, compute, *, seed: int | None = None,
                  force: bool = False) -> dict:
    """Return the arrays of ``<root>/<profile>/<step>/arrays.npz``, recomputing them with
    ``compute() -> dict[str, np.ndarray]`` when absent, unreadable, ``force``d, or recorded
    under a different config. Writes the arrays and their provenance atomically."""
    import numpy as np

    directory = artifact_dir(profile, step)
    path = directory / "arrays.npz"
    if not force and is_current(directory, configs, required=("arrays.npz",)):
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):
            pass  # unreadable: recompute below
    with Timer() as timer:
        arrays = compute()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    write_provenance(directory, provenance(configs, seed=seed, wall_time_s=timer.seconds))
    return arrays
