"""Tests of invdes.inverse.mdn: the mixture density, the sampler, training, determinism,
persistence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from invdes.artifacts import ArtifactError
from invdes.config import MDNConfig, get_profile
from invdes.inverse.mdn import (
    MDN,
    build_network,
    make_nll_loss,
    mixture_log_prob,
    n_outputs,
    sample_mixture,
)

# Small but paper-shaped network (4 dense blocks of 16), fewer components for speed.
FAST = dict(n_components=8, learning_rate=1e-2, batch_size=64, patience=40, max_epochs=160,
            validation_fraction=0.15, verbose=0)


def branches(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One-to-many toy problem: z = +-sqrt(y) + noise, y in [0.2, 1]."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.2, 1.0, n)
    z = rng.choice([-1.0, 1.0], n) * np.sqrt(y) + 0.03 * rng.standard_normal(n)
    return y, z[:, None]


@pytest.fixture(scope="module")
def trained() -> MDN:
    y, z = branches(480)
    return MDN(seed=3, **FAST).fit(y, z)


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def hand_log_density(weights, means, scales, z) -> np.ndarray:
    """log sum_k w_k prod_j N(z_j | mu_kj, s_kj), written out independently of the package."""
    log_norm = (-0.5 * ((z[:, None, :] - means) / scales) ** 2 - np.log(scales)
                - 0.5 * np.log(2 * np.pi)).sum(axis=2)
    return logsumexp(np.log(weights) + log_norm, axis=1)


# ---------------------------------------------------------------------------------- density


def test_nll_loss_equals_hand_computed_mixture_density():
    k, d = 3, 2
    rng = np.random.default_rng(1)
    logits = np.array([[0.2, -1.0, 0.7], [1.5, 0.0, -0.5]])
    means = rng.normal(size=(2, k, d))
    raw_scales = rng.normal(size=(2, k, d))
    raw = np.concatenate([logits, means.reshape(2, -1), raw_scales.reshape(2, -1)], axis=1)
    assert raw.shape[1] == n_outputs(k, d)
    z = rng.normal(size=(2, d))

    floor = 1e-6
    elu = np.where(raw_scales > 0, raw_scales, np.expm1(raw_scales))
    scales = elu + 1.0 + floor
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = hand_log_density(weights, means, scales, z)

    nll = make_nll_loss(k, d, floor)(z.astype(np.float32), raw.astype(np.float32)).numpy()
    np.testing.assert_allclose(-nll, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mixture_log_prob(weights, means, scales, z), expected, rtol=1e-12)


def test_log_prob_far_in_the_tail_stays_finite():
    # a point 60 standard deviations away: the density underflows, its log does not
    k, d = 2, 1
    raw = np.array([[0.0, 0.0, 0.0, 0.0, -3.0, -3.0]], dtype=np.float32)  # scales ~ 0.05
    z = np.array([[3.0]], dtype=np.float32)
    nll = make_nll_loss(k, d, 1e-6)(z, raw).numpy()
    assert np.all(np.isfinite(nll)) and nll[0] > 1000


def test_model_log_prob_matches_its_mixture_params(trained):
    y = np.array([0.3, 0.5, 0.9])
    z = np.array([[0.55], [-0.7], [0.1]])
    w, mu, s = trained.mixture_params(y)
    assert w.shape == (3, 8) and mu.shape == (3, 8, 1) and s.shape == (3, 8, 1)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(s > 0)
    np.testing.assert_allclose(trained.log_prob(y, z), hand_log_density(w, mu, s, z),
                               rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------- sampler


def test_sample_mixture_moments_use_scale_as_standard_deviation():
    w = np.array([0.3, 0.7])
    mu = np.array([[-2.0, 0.0], [1.0, 3.0]])
    s = np.array([[0.5, 1.0], [0.2, 2.0]])
    z = sample_mixture(w, mu, s, 200_000, np.random.default_rng(0))
    assert z.shape == (200_000, 2)
    mean = w @ mu
    var = w @ (s**2 + mu**2) - mean**2
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(z.var(axis=0), var, rtol=0.02)
    # the components are separated in dimension 0: their shares follow the weights
    assert abs(np.mean(z[:, 0] < -0.5) - 0.3) < 0.005
    # within component 2, dimension 1 has standard deviation 2 (a variance reading gives sqrt 2)
    assert abs(z[z[:, 0] > -0.5, 1].std() - 2.0) < 0.02


def test_sample_mixture_batched_shapes_and_seed():
    w = np.full((3, 4), 0.25)
    mu = np.zeros((3, 4, 2))
    s = np.ones((3, 4, 2))
    a = sample_mixture(w, mu, s, 5, 7)
    b = sample_mixture(w, mu, s, 5, np.random.default_rng(7))
    assert a.shape == (3, 5, 2)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "args",
    [
        (np.array([0.5, 0.6]), np.zeros((2, 1)), np.ones((2, 1)), 3),  # weights do not sum to 1
        (np.array([0.5, 0.5]), np.zeros((2, 1)), -np.ones((2, 1)), 3),  # negative scale
        (np.array([0.5, 0.5]), np.zeros((3, 1)), np.ones((3, 1)), 3),  # shape mismatch
        (np.array([0.5, 0.5]), np.zeros((2, 1)), np.ones((2, 1)), 0),  # n < 1
    ],
)
def test_sample_mixture_rejects_bad_parameters(args):
    with pytest.raises(ValueError):
        sample_mixture(*args, rng=0)


# ---------------------------------------------------------------------------------- training


def test_training_lowers_loss_and_covers_both_branches(trained):
    h = trained.history_
    assert len(h["loss"]) == trained.n_epochs_ == len(h["val_loss"])
    assert np.all(np.isfinite(h["loss"])) and np.all(np.isfinite(h["val_loss"]))
    assert min(h["loss"]) < h["loss"][0] - 1.0
    assert min(h["val_loss"]) < h["val_loss"][0] - 1.0
    assert h["val_loss"][trained.best_epoch_] == min(h["val_loss"])

    z = trained.sample(0.5, 2000, seed=0)
    assert z.shape == (2000, 1)
    share_positive = np.mean(z > 0)
    assert 0.25 < share_positive < 0.75, share_positive
    near_branch = np.abs(np.abs(z[:, 0]) - math.sqrt(0.5)) < 0.2
    assert near_branch.mean() > 0.85, near_branch.mean()


def test_sample_shapes_for_scalar_and_array_targets(trained):
    assert trained.sample(0.4, 3, seed=1).shape == (3, 1)
    assert trained.sample(np.array([0.4, 0.6]), 3, seed=1).shape == (2, 3, 1)
    np.testing.assert_array_equal(trained.sample(0.4, 3, seed=1), trained.sample(0.4, 3, seed=1))
    with pytest.warns(UserWarning, match="outside the training range"):
        trained.sample(3.0, 2, seed=0)


def test_fit_is_deterministic_with_a_seed():
    y, z = branches(200, seed=5)
    params = dict(FAST, max_epochs=6)
    a = MDN(seed=11, **params).fit(y, z)
    b = MDN(seed=11, **params).fit(y, z)
    for wa, wb in zip(a.model_.get_weights(), b.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.history_ == b.history_
    np.testing.assert_array_equal(a.sample(0.5, 10, seed=2), b.sample(0.5, 10, seed=2))
    assert not np.array_equal(a.sample(0.5, 10, seed=2), a.sample(0.5, 10, seed=3))
    # another seed starts from other weights
    w11 = build_network(1, 8, seed=11).get_weights()[0]
    assert not np.array_equal(w11, build_network(1, 8, seed=12).get_weights()[0])
    np.testing.assert_array_equal(w11, build_network(1, 8, seed=11).get_weights()[0])


def test_interrupted_fit_resumes_from_its_checkpoint_bitwise(tmp_path, monkeypatch):
    from invdes.inverse import mdn as mdn_module

    y, z = branches(200, seed=5)
    params = dict(FAST, max_epochs=6)
    whole = MDN(seed=11, **params).fit(y, z)
    ckpt = tmp_path / "fit.ckpt.npz"
    real_save = mdn_module._TrainingCheckpoint.save

    def save_then_stop(self, **state):
        real_save(self, **state)
        if state["epoch"] == 3:
            raise KeyboardInterrupt  # the session ends after epoch 3

    monkeypatch.setattr(mdn_module._TrainingCheckpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        MDN(seed=11, **params).fit(y, z, checkpoint=ckpt)
    assert ckpt.exists()
    monkeypatch.setattr(mdn_module._TrainingCheckpoint, "save", real_save)
    resumed = MDN(seed=11, **params).fit(y, z, checkpoint=ckpt)
    assert resumed.history_ == whole.history_ and resumed.n_epochs_ == 6
    for wa, wb in zip(whole.model_.get_weights(), resumed.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not ckpt.exists()  # removed once training ended
    assert resumed.fit_seconds_ > 0


def test_checkpoint_of_other_data_is_not_resumed(tmp_path, monkeypatch):
    from invdes.inverse import mdn as mdn_module

    y, z = branches(120, seed=1)
    ckpt = tmp_path / "fit.ckpt.npz"
    real_save = mdn_module._TrainingCheckpoint.save

    def save_then_stop(self, **state):
        real_save(self, **state)
        raise KeyboardInterrupt

    monkeypatch.setattr(mdn_module._TrainingCheckpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        MDN(seed=0, **dict(FAST, max_epochs=4)).fit(y, z, checkpoint=ckpt)
    monkeypatch.setattr(mdn_module._TrainingCheckpoint, "save", real_save)
    other = MDN(seed=0, **dict(FAST, max_epochs=4)).fit(y, z + 0.5, checkpoint=ckpt)
    fresh = MDN(seed=0, **dict(FAST, max_epochs=4)).fit(y, z + 0.5)
    assert other.history_ == fresh.history_  # started again, not from the other data's state


def test_wide_head_trains_with_xla_deterministically():
    """d >= XLA_MIN_DIM (the direct MDN's pixels) takes the XLA-compiled epoch: the loss still
    falls, and a seed still fixes the weights."""
    from invdes.inverse.mdn import XLA_MIN_DIM

    rng = np.random.default_rng(0)
    n, d = 160, XLA_MIN_DIM
    y = rng.uniform(0.0, 1.0, n)
    pattern = rng.random(d) < 0.5
    z = np.where(rng.random((n, d)) < 0.5 + 0.4 * (y[:, None] - 0.5), pattern, ~pattern)
    params = dict(n_components=2, batch_size=32, patience=5, max_epochs=5,
                  validation_fraction=0.2, verbose=0)
    a = MDN(seed=1, **params).fit(y, z.astype(np.float32))
    b = MDN(seed=1, **params).fit(y, z.astype(np.float32))
    assert a.history_["loss"][-1] < a.history_["loss"][0]
    assert all(math.isfinite(v) for v in a.history_["val_loss"])
    assert a.history_ == b.history_


def test_validation_fraction_zero_monitors_training_loss():
    y, z = branches(64, seed=2)
    m = MDN(seed=0, **dict(FAST, max_epochs=3, validation_fraction=0.0)).fit(y, z)
    assert m.history_["val_loss"] == [] and len(m.history_["loss"]) == 3


# ---------------------------------------------------------------------------------- persistence


def test_save_load_round_trip(trained, tmp_path):
    folder = trained.save(tmp_path / "mdn")
    loaded = MDN.load(folder)
    assert loaded.get_params() == trained.get_params()
    y = np.array([0.35, 0.8])
    np.testing.assert_array_equal(loaded.sample(y, 7, seed=4), trained.sample(y, 7, seed=4))
    z = np.array([[0.6], [-0.9]])
    np.testing.assert_allclose(loaded.log_prob(y, z), trained.log_prob(y, z), rtol=1e-6)
    assert loaded.history_ == trained.history_


def test_load_reports_missing_and_corrupt_files(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="mdn.json"):
        MDN.load(tmp_path / "nowhere")
    folder = trained.save(tmp_path / "m")
    (folder / "mdn.weights.h5").write_bytes(b"not an h5 file")
    with pytest.raises(ArtifactError, match="mdn.weights.h5"):
        MDN.load(folder)
    (folder / "mdn.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="mdn.json"):
        MDN.load(folder)
    (folder / "mdn.weights.h5").unlink()
    (folder / "mdn.json").write_text(json.dumps({"format": "invdes-mdn", "params": {}, "dim": 1,
                                                 "y_mean": 0.0, "y_std": 1.0}))
    with pytest.raises(FileNotFoundError, match="mdn.weights.h5"):
        MDN.load(folder)


# ---------------------------------------------------------------------------------- API


def test_from_config_and_constructor_only_stores():
    cfg = get_profile("paper").mdn
    m = MDN.from_config(cfg, verbose=0)
    assert (m.n_components, m.hidden_units, m.n_blocks) == (40, 16, 4)
    assert (m.learning_rate, m.batch_size, m.patience) == (1e-3, 128, 50)
    assert m.max_epochs == cfg.max_epochs and m.scale_floor == cfg.scale_floor
    assert not hasattr(m, "model_")
    assert MDN.from_config(MDNConfig(seed=9)).seed == 9
    with pytest.raises(RuntimeError, match="not fitted"):
        m.sample(0.5, 2)


def test_network_has_the_paper_dense_block_widths():
    net = build_network(dim=9, n_components=40)
    widths = [net.get_layer(f"dense_{i}").kernel.shape[0] for i in range(4)]
    assert widths == [1, 17, 33, 49]
    assert net.get_layer("mixture_head").kernel.shape == (65, 40 * (1 + 2 * 9))


@pytest.mark.parametrize(
    "y, z, match",
    [
        (np.array([0.5, np.nan, 0.6]), np.zeros((3, 2)), "non-finite"),
        (np.array([0.5, 0.6, 0.7]), np.array([[0.0, np.inf]] * 3), "non-finite"),
        (np.array([0.5, 0.6, 0.7]), np.zeros(3), r"shape \(n, d\)"),
        (np.array([0.5, 0.6, 0.7]), np.zeros((4, 2)), "rows"),
        (np.zeros((3, 2)), np.zeros((3, 2)), r"shape \(n,\)"),
    ],
)
def test_fit_rejects_bad_inputs(y, z, match):
    with pytest.raises(ValueError, match=match):
        MDN(verbose=0, max_epochs=1).fit(y, z)


def test_bad_parameters_and_sample_counts(trained):
    y, z = branches(20)
    with pytest.raises(ValueError, match="n_components"):
        MDN(n_components=0, verbose=0).fit(y, z)
    with pytest.raises(ValueError, match="validation_fraction"):
        MDN(validation_fraction=1.0, verbose=0).fit(y, z)
    with pytest.raises(ValueError, match=">= 1"):
        trained.sample(0.5, 0)
    with pytest.raises(ValueError, match="non-finite"):
        trained.sample(np.nan, 3)
    with pytest.raises(ValueError, match="dimension"):
        trained.log_prob([0.5], [[0.1, 0.2]])
