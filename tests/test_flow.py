"""Tests of invdes.inverse.flow: the conditional normalizing flow p(z | y) on the box [-1, 1]^d
(box, shapes, determinism, learning, the z-space density, persistence, input checks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from invdes.artifacts import ArtifactError
from invdes.config import FlowConfig
from invdes.inverse.flow import (
    NOT_FITTED,
    ConditionalFlow,
    compare_nll,
    uniform_box_nll,
)
from invdes.inverse.mdn import MDN

#: Tiny network trained briefly: enough to learn the toy problem below in a few seconds.
FAST = dict(n_bijectors=2, hidden_units=(16,), learning_rate=1e-2, batch_size=64, max_epochs=40,
            patience=10, seed=1)
#: Tinier still, for tests that only need a fitted object.
TINY = dict(n_bijectors=2, hidden_units=(8,), learning_rate=1e-2, batch_size=32, max_epochs=3,
            patience=3, seed=0)


def toy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """d = 2: z = clip(+-0.8 tanh(3 (y - 0.5)) + 0.05 noise) (first coordinate rises with y,
    the second falls), y uniform in [0, 1]."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.0, 1.0, n)
    m = 0.8 * np.tanh(3.0 * (y - 0.5))
    z = np.stack([m, -m], axis=1) + 0.05 * rng.standard_normal((n, 2))
    return y, np.clip(z, -1.0, 1.0)


def box_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 0.9, n), rng.uniform(-1.0, 1.0, (n, d))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return toy(600)


@pytest.fixture(scope="module")
def trained(data) -> ConditionalFlow:
    return ConditionalFlow(**FAST).fit(*data)


@pytest.fixture(scope="module")
def tiny4() -> ConditionalFlow:
    return ConditionalFlow(**TINY).fit(*box_data(40, 4))


# ------------------------------------------------------------------------- box, shapes, seed


def test_uniform_box_nll_is_d_log_2():
    assert uniform_box_nll(4) == pytest.approx(4 * math.log(2))
    assert uniform_box_nll(9) == pytest.approx(9 * math.log(2))


def test_samples_have_the_right_shape_dtype_and_stay_strictly_inside_the_box(tiny4):
    z = tiny4.sample(0.5, 300, seed=0)
    assert z.shape == (300, 4) and z.dtype == np.float32
    assert np.all(np.isfinite(z)) and np.all(np.abs(z) < 1.0)
    assert np.all(np.abs(z) <= 1.0 - tiny4.box_margin + 1e-7)
    batch = tiny4.sample([0.3, 0.6, 0.85], 5, seed=0)
    assert batch.shape == (3, 5, 4) and batch.dtype == np.float32
    with pytest.warns(UserWarning, match="outside the training range"):
        far = tiny4.sample(50.0, 50, seed=1)  # far extrapolation still gives box latents
    assert np.all(np.isfinite(far)) and np.all(np.abs(far) < 1.0)


def test_fit_and_sample_are_deterministic_for_a_seed():
    y, z = box_data(60, 3, seed=2)
    a = ConditionalFlow(**TINY).fit(y, z)
    b = ConditionalFlow(**TINY).fit(y, z)
    np.testing.assert_allclose(a.log_prob(y, z), b.log_prob(y, z), rtol=0, atol=1e-5)
    assert a.history_ == b.history_
    np.testing.assert_array_equal(a.sample(0.5, 20, seed=7), a.sample(0.5, 20, seed=7))
    np.testing.assert_allclose(a.sample(0.5, 20, seed=7), b.sample(0.5, 20, seed=7), atol=1e-6)
    assert not np.allclose(a.sample(0.5, 20, seed=7), a.sample(0.5, 20, seed=8))


# ------------------------------------------------------------------------------- learning


def test_flow_learns_the_conditional_toy_problem(trained, data):
    hist = trained.history_
    assert len(hist["loss"]) == len(hist["val_loss"]) == trained.n_epochs_
    assert hist["loss"][-1] < hist["loss"][0] - 1.0
    assert trained.stop_reason_ in ("patience", "max_epochs")
    if trained.stop_reason_ == "max_epochs":
        assert trained.n_epochs_ == FAST["max_epochs"]
    assert trained.best_epoch_ == int(np.argmin(hist["val_loss"]))
    assert trained.val_nll_ == pytest.approx(min(hist["val_loss"]))
    assert trained.validation_nll() == trained.val_nll_
    # a real, failable bar: well below the uniform box (2 log 2 = 1.386 nats)
    assert trained.validation_nll() < uniform_box_nll(2) - 2.0
    low, high = trained.sample(0.2, 400, seed=0), trained.sample(0.8, 400, seed=0)
    assert low[:, 0].mean() < -0.3 < 0.3 < high[:, 0].mean()
    assert low[:, 1].mean() > 0.3 > -0.3 > high[:, 1].mean()
    lp = trained.log_prob(*data)
    assert lp.shape == (600,) and lp.dtype == np.float64 and np.all(np.isfinite(lp))


def test_z_space_density_integrates_to_one(trained):
    """Midpoint rule on a 400 x 400 grid of the box at two conditions: the tanh Jacobian and the
    autoregressive (triangular) structure are both needed for this to come out as 1."""
    h = 2.0 / 400
    g = -1.0 + h * (np.arange(400) + 0.5)
    zz = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    for y0 in (0.3, 0.7):
        mass = np.exp(trained.log_prob(np.full(len(zz), y0), zz)).sum() * h * h
        assert mass == pytest.approx(1.0, abs=0.01)


def test_log_prob_adds_the_tanh_jacobian_to_the_u_space_density(tiny4):
    """log p_z(z) = log p_u(atanh z) + log |du/dz|, with du/dz by central differences."""
    rng = np.random.default_rng(5)
    z = rng.uniform(-0.95, 0.95, (6, 4))
    y = rng.uniform(0.2, 0.9, 6)
    u = np.arctanh(z)
    c = ((y - tiny4.y_mean_) / tiny4.y_std_).astype(np.float32)[:, None]
    kwargs = {f"maf_{k}": {"conditional_input": c} for k in range(tiny4.n_bijectors)}
    log_pu = tiny4.distribution_.log_prob(u.astype(np.float32), bijector_kwargs=kwargs).numpy()
    step = 1e-6
    dudz = (np.arctanh(z + step) - np.arctanh(z - step)) / (2 * step)
    expected = log_pu + np.log(dudz).sum(axis=1)
    np.testing.assert_allclose(tiny4.log_prob(y, z), expected, rtol=0, atol=1e-4)
    # the untrained-by-much flow is no sharper than the base: finite on the box edges too
    edge = np.array([[1.0, -1.0, 0.0, 1.0]])
    assert np.isfinite(tiny4.log_prob([0.5], edge)).all()


def test_compare_nll_reports_flow_mdn_and_uniform(trained, data):
    y, z = data
    mdn = MDN(n_components=2, hidden_units=4, n_blocks=1, max_epochs=3, verbose=0).fit(y, z)
    y_val, z_val = toy(200, seed=9)
    out = compare_nll(trained, mdn, y_val, z_val)
    assert set(out) == {"flow", "mdn", "uniform"}
    assert out["uniform"] == pytest.approx(2 * math.log(2))
    assert out["flow"] == pytest.approx(-np.mean(trained.log_prob(y_val, z_val)))
    assert out["mdn"] == pytest.approx(-np.mean(mdn.log_prob(y_val, z_val)))
    assert out["flow"] < out["uniform"] and math.isfinite(out["mdn"])


# ---------------------------------------------------------------------------- persistence


def test_save_load_round_trip(trained, data, tmp_path):
    y, z = data
    path = trained.save(tmp_path / "flow.npz")
    assert path.is_file() and not list(tmp_path.glob(".*.tmp"))
    loaded = ConditionalFlow.load(path)
    assert loaded.get_params() == trained.get_params()
    # the same weights; float32 graphs traced anew may round differently (seen: 3e-6 relative
    # on a CI machine), while a wrong or missing weight moves log_prob by far more
    np.testing.assert_allclose(loaded.log_prob(y[:50], z[:50]), trained.log_prob(y[:50], z[:50]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.sample(0.4, 30, seed=3), trained.sample(0.4, 30, seed=3),
                               rtol=1e-5, atol=1e-6)
    for name in ("dim_", "y_mean_", "y_std_", "y_range_", "history_", "n_epochs_", "best_epoch_",
                 "stop_reason_", "val_nll_"):
        assert getattr(loaded, name) == getattr(trained, name), name

    with pytest.raises(FileNotFoundError, match="missing"):
        ConditionalFlow.load(tmp_path / "nope.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an npz file")
    with pytest.raises(ArtifactError, match="corrupt"):
        ConditionalFlow.load(broken)


# ----------------------------------------------------------------------------- bad input


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_bad_inputs_raise_clear_one_line_errors(tiny4):
    y, z = box_data(40, 4)
    flow = ConditionalFlow(**TINY)
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="non-finite") as e:
        flow.fit(y_nan, z)
    one_line(e)
    z_out = z.copy()
    z_out[5, 1] = 1.2
    with pytest.raises(ValueError, match=r"box \[-1, 1\]") as e:
        flow.fit(y, z_out)
    one_line(e)
    with pytest.raises(ValueError, match="rows but y has") as e:
        flow.fit(y[:30], z)
    one_line(e)
    with pytest.raises(ValueError, match="at least 10 rows") as e:
        flow.fit(y[:9], z[:9])
    one_line(e)
    with pytest.raises(ValueError, match="n_bijectors"):
        ConditionalFlow(n_bijectors=0).fit(y, z)
    with pytest.raises(ValueError, match="validation_fraction"):
        ConditionalFlow(validation_fraction=0.0).fit(y, z)
    with pytest.raises(ValueError, match="hidden_units"):
        ConditionalFlow(hidden_units=()).fit(y, z)
    with pytest.raises(ValueError, match="dimension 3"):
        tiny4.log_prob(y, z[:, :3])
    with pytest.raises(ValueError, match=r"box \[-1, 1\]"):
        tiny4.log_prob(y, z_out)
    with pytest.raises(ValueError, match=">= 1"):
        tiny4.sample(0.5, 0)
    with pytest.raises(ValueError, match="non-finite"):
        tiny4.sample(np.nan, 3)

    fresh = ConditionalFlow()
    for call in (lambda: fresh.log_prob(y, z), lambda: fresh.sample(0.5, 3),
                 fresh.validation_nll, lambda: fresh.save("unused.npz")):
        with pytest.raises(RuntimeError, match="not fitted yet") as e:
            call()
        assert NOT_FITTED in one_line(e)


def test_params_config_and_repr():
    flow = ConditionalFlow.from_config(FlowConfig(), seed=4)
    assert flow.get_params()["seed"] == 4 and flow.hidden_units == (64, 64)
    assert flow.set_params(n_bijectors=3) is flow and flow.n_bijectors == 3
    assert repr(flow).startswith("ConditionalFlow(n_bijectors=3")
    with pytest.raises(ValueError, match="unknown ConditionalFlow parameter"):
        flow.set_params(depth=2)
