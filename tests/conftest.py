"""Shared pytest fixtures.

``tmp_artifacts``: point ``$INVDES_ARTIFACTS`` at a temporary folder for the test that asks for
it (shared by all such tests of one session, so a test may reuse what an earlier one cached).
``fresh_artifacts``: the same, but an empty folder for each test. Tests that ask for neither see
the normal default (``artifacts/`` at the repository root, or whatever the environment says).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from invdes.artifacts import ARTIFACTS_ENV


@pytest.fixture(scope="session")
def _session_artifacts_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture
def tmp_artifacts(_session_artifacts_root: Path, monkeypatch) -> Path:
    """Artifact root for this session (a temporary folder); ``$INVDES_ARTIFACTS`` points to it."""
    monkeypatch.setenv(ARTIFACTS_ENV, str(_session_artifacts_root))
    return _session_artifacts_root


@pytest.fixture
def fresh_artifacts(tmp_path: Path, monkeypatch) -> Path:
    """An empty artifact root for this test only; ``$INVDES_ARTIFACTS`` points to it."""
    root = tmp_path / "artifacts"
    root.mkdir()
    monkeypatch.setenv(ARTIFACTS_ENV, str(root))
    return root
