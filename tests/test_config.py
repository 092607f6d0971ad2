"""Tests of invdes.config: profiles, the INVDES_PROFILE variable, config hashes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from invdes.config import (
    PROFILE_ENV,
    PROFILES,
    MicrostructureConfig,
    OpticsConfig,
    Profile,
    config_hash,
    get_profile,
    to_dict,
)


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_load(name):
    profile = get_profile(name)
    assert isinstance(profile, Profile)
    assert profile.name == name
    # every section is a frozen dataclass
    for f in dataclasses.fields(profile):
        section = getattr(profile, f.name)
        if dataclasses.is_dataclass(section):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(section, dataclasses.fields(section)[0].name, None)


def test_profile_names_are_normalized():
    assert get_profile(" Paper ").name == "paper"
    assert get_profile("SMOKE").name == "smoke"


def test_paper_profile_is_larger_than_smoke():
    smoke, paper = get_profile("smoke"), get_profile("paper")
    assert paper.data.n_samples > smoke.data.n_samples
    assert paper.gan.iterations > smoke.gan.iterations
    assert paper.evaluation.n_candidates == 30  # the paper's Table 1 protocol
    assert paper.bo.n_initial == 250 and paper.bo.n_iterations == 400


@pytest.mark.parametrize("bad", ["full", "", "smok"])
def test_unknown_profile_lists_allowed(bad):
    with pytest.raises(ValueError) as info:
        get_profile(bad)
    message = str(info.value)
    assert repr(bad) in message
    for name in PROFILES:
        assert name in message


def test_environment_variable_is_respected(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "paper")
    assert get_profile().name == "paper"
    monkeypatch.setenv(PROFILE_ENV, "smoke")
    assert get_profile().name == "smoke"
    # an explicit name wins over the environment
    monkeypatch.setenv(PROFILE_ENV, "paper")
    assert get_profile("smoke").name == "smoke"


def test_default_profile_is_smoke(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert get_profile().name == "smoke"
    monkeypatch.setenv(PROFILE_ENV, "")
    assert get_profile().name == "smoke"


def test_bad_environment_value_raises(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "huge")
    with pytest.raises(ValueError, match="smoke, paper"):
        get_profile()


def test_to_dict_is_json_ready():
    cfg = OpticsConfig()
    d = to_dict(cfg)
    assert isinstance(d["band_nm"], list)  # tuples become lists
    assert d["band_nm"] == list(cfg.band_nm)
    assert d["absorber"] == cfg.absorber


def test_config_hash_stable_within_process():
    h = config_hash(MicrostructureConfig())
    assert h == config_hash(MicrostructureConfig())
    assert len(h) == 16 and int(h, 16) >= 0
    assert config_hash(get_profile("paper").optics) == config_hash(get_profile("paper").optics)


def test_config_hash_stable_across_processes():
    code = (
        "from invdes.config import config_hash, get_profile; p = get_profile('smoke'); "
        "print(config_hash(p.microstructure, p.optics))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    p = get_profile("smoke")
    assert out == config_hash(p.microstructure, p.optics)


def test_config_hash_sensitive_to_changes():
    base = OpticsConfig()
    h = config_hash(base)
    other_absorber = "glass" if base.absorber != "glass" else "a-Si"
    more_harmonics = (base.harmonics[0], base.harmonics[1] + 1)
    for changed in (
        dataclasses.replace(base, thickness_nm=base.thickness_nm + 1),
        dataclasses.replace(base, harmonics=more_harmonics),
        dataclasses.replace(base, absorber=other_absorber),
    ):
        assert config_hash(changed) != h
    # several configs: every one of them matters
    ms = MicrostructureConfig()
    more_wavelengths = dataclasses.replace(base, n_wavelengths=base.n_wavelengths + 1)
    assert config_hash(ms, base) != config_hash(ms, more_wavelengths)
    assert config_hash(ms, base) != config_hash(dataclasses.replace(ms, size=ms.size // 2), base)
    # the two profiles differ where their settings differ
    assert config_hash(get_profile("smoke").gan) != config_hash(get_profile("paper").gan)


def test_config_hash_accepts_plain_values():
    assert config_hash({"a": 1}) == config_hash({"a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})  # key order irrelevant


def test_each_data_set_has_its_own_stack_and_unknown_names_are_refused():
    for name in ("smoke", "paper"):
        p = get_profile(name)
        stacks = p.optics_by_dataset()
        assert set(stacks) == {"data-i", "data-ii"}
        assert stacks["data-i"] != stacks["data-ii"]
        assert p.optics_for("data-ii") == stacks["data-ii"]
    with pytest.raises(ValueError, match="unknown data set 'data-iii'"):
        get_profile("paper").optics_for("data-iii")
    p = get_profile("smoke")
    thin = dataclasses.replace(p.optics_for("data-i"), thickness_nm=50.0)
    q = p.with_dataset_optics("data-i", thin)
    assert q.optics_for("data-i") == thin and q.optics_for("data-ii") == p.optics_for("data-ii")
