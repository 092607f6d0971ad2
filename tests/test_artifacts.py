"""Tests of invdes.artifacts: atomic writes, provenance records, cache validity."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from invdes import artifacts as A
from invdes.config import MicrostructureConfig, OpticsConfig


class Boom(RuntimeError):
    pass


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------------------ atomic_path
def test_atomic_path_success_replaces_content(tmp_path):
    target = tmp_path / "sub" / "data.txt"
    with A.atomic_path(target) as tmp:
        assert tmp != target and tmp.parent == target.parent
        tmp.write_text("new")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text() == "new"
    assert _leftovers(target.parent) == []


def test_atomic_path_failure_leaves_no_file(tmp_path):
    target = tmp_path / "data.txt"
    with pytest.raises(Boom):
        with A.atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise Boom
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_failure_keeps_old_content(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("old")
    with pytest.raises(Boom):
        with A.atomic_path(target) as tmp:
            tmp.write_text("new but incomplete")
            raise Boom
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_atomic_path_keyboard_interrupt(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with A.atomic_path(target) as tmp:
            tmp.write_text("x")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_write_json_roundtrip(tmp_path):
    path = tmp_path / "a.json"
    A.write_json(path, {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}


# ------------------------------------------------------------------------------ locations
def test_artifact_dir_follows_environment(tmp_artifacts):
    path = A.artifact_dir("smoke", "unit-test-step")
    assert path == tmp_artifacts / "smoke" / "unit-test-step"
    assert path.is_dir()
    assert A.artifact_root() == tmp_artifacts


def test_artifact_dir_without_create(fresh_artifacts):
    path = A.artifact_dir("paper", "nothing", create=False)
    assert path == fresh_artifacts / "paper" / "nothing"
    assert not path.exists()


def test_default_root_is_repository_artifacts(monkeypatch):
    monkeypatch.delenv(A.ARTIFACTS_ENV, raising=False)
    assert A.artifact_root() == A.REPO_ROOT / "artifacts"


def test_rebuild_command_names_profile_and_step():
    cmd = A.rebuild_command("paper", "gan")
    assert "--profile paper" in cmd and "gan" in cmd


# ------------------------------------------------------------------------------ provenance
def _configs():
    return {"microstructure": MicrostructureConfig(), "optics": OpticsConfig(), "note": "v1"}


def test_provenance_record_fields():
    rec = A.provenance(_configs(), seed=3, wall_time_s=1.23456, extra_field="x")
    assert rec["seed"] == 3
    assert rec["wall_time_s"] == pytest.approx(1.235)
    assert rec["extra_field"] == "x"
    assert isinstance(rec["git_commit"], str) and rec["git_commit"]
    for key in ("platform", "processor", "cpu_count", "python"):
        assert key in rec["machine"]
    assert rec["config"]["optics"]["band_nm"] == list(OpticsConfig().band_nm)
    assert rec["config_hash"] == A.expected_hash(_configs())
    json.dumps(rec)  # JSON-ready


def test_provenance_hash_depends_on_configs():
    thicker = dataclasses.replace(OpticsConfig(), thickness_nm=OpticsConfig().thickness_nm + 1)
    changed = dict(_configs(), optics=thicker)
    assert A.expected_hash(changed) != A.expected_hash(_configs())
    assert A.expected_hash(dict(_configs(), note="v2")) != A.expected_hash(_configs())


# ------------------------------------------------------------------------------ is_current
def test_is_current_true_and_false_cases(fresh_artifacts):
    folder = A.artifact_dir("smoke", "step")
    configs = _configs()
    assert not A.is_current(folder, configs)  # no provenance yet
    A.write_provenance(folder, A.provenance(configs, seed=0, wall_time_s=0.0))
    assert A.read_provenance(folder)["config_hash"] == A.expected_hash(configs)
    assert A.is_current(folder, configs)
    # a changed configuration invalidates the artifact
    changed = dict(configs, microstructure=dataclasses.replace(MicrostructureConfig(), size=64))
    assert not A.is_current(folder, changed)
    # required files must exist
    assert not A.is_current(folder, configs, required=("weights.h5",))
    (folder / "weights.h5").write_bytes(b"x")
    assert A.is_current(folder, configs, required=("weights.h5",))


def test_is_current_false_for_corrupted_provenance(fresh_artifacts):
    folder = A.artifact_dir("smoke", "broken")
    (folder / A.PROVENANCE_FILE).write_text("{not json")
    assert A.read_provenance(folder) is None
    assert not A.is_current(folder, _configs())


def test_timer_measures_time():
    import time

    with A.Timer() as t:
        time.sleep(0.01)
    assert t.seconds >= 0.009


def test_git_commit_is_the_one_at_import(monkeypatch):
    """A long step records the commit its code came from, not the one at its end."""
    monkeypatch.delenv("INVDES_GIT_COMMIT", raising=False)
    monkeypatch.setattr(A, "_COMMIT_AT_IMPORT", "abc123")
    monkeypatch.setattr(A.subprocess, "run", lambda *a, **k: pytest.fail("git run again"))
    assert A.git_commit() == "abc123"
    assert A.provenance(_configs(), seed=0, wall_time_s=0.0)["git_commit"] == "abc123"
    monkeypatch.setenv("INVDES_GIT_COMMIT", "remote")
    assert A.git_commit() == "remote"
