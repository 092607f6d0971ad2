"""Tests of invdes.inverse.baselines: PCA-MDN, direct MDN, GAN-MDN (fake generator), Bayesian
optimization (cheap analytic objectives, resume) and the null baselines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from invdes.artifacts import ArtifactError
from invdes.config import BOConfig
from invdes.inverse.baselines import (
    GANMDN,
    PCAMDN,
    DirectMDN,
    binarize_otsu,
    load_bo_result,
    lookup_candidates,
    random_latent_candidates,
    run_bo,
)

TINY_MDN = dict(n_components=4, learning_rate=1e-2, batch_size=32, patience=5, max_epochs=8,
                verbose=0)


class FakeGenerator:
    """A fixed random linear map z (n, s*s) -> field (n, 8s, 8s), thresholded at 0 (binary)."""

    def __init__(self, dim: int = 4, side: int = 16, seed: int = 0):
        self.side = side
        self.w = np.random.default_rng(seed).normal(size=(dim, side * side))

    def generate(self, z):
        z = np.asarray(z, dtype=np.float64)
        return (z @ self.w > 0).astype(np.uint8).reshape(len(z), self.side, self.side)


@pytest.fixture(scope="module")
def image_data():
    gen = FakeGenerator(dim=4, side=12, seed=1)
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(96, 4))
    x = gen.generate(z)
    y = 0.5 + 0.3 * x.mean(axis=(1, 2)) + 0.01 * rng.standard_normal(96)
    return gen, z, x, y


# ---------------------------------------------------------------------------------- MDN models


def test_pca_mdn_shapes_binary_values_and_round_trip(image_data, tmp_path):
    _, _, x, y = image_data
    model = PCAMDN(4, TINY_MDN, seed=0).fit(x, y)
    assert model.pca_.n_components_ == 4 and 0 < model.explained_variance_ratio_ <= 1
    t = float(np.median(y))
    imgs = model.sample(t, 5, seed=1)
    assert imgs.shape == (5, 12, 12) and imgs.dtype == np.uint8
    assert set(np.unique(imgs)) <= {0, 1}
    # Otsu per image keeps both phases (0.5 on a smooth reconstruction need not)
    assert np.all((imgs.mean(axis=(1, 2)) > 0) & (imgs.mean(axis=(1, 2)) < 1))
    many = model.sample(np.quantile(y, [0.3, 0.7]), 3, seed=1)
    assert many.shape == (2, 3, 12, 12)
    loaded = PCAMDN.load(model.save(tmp_path / "pca"))
    np.testing.assert_array_equal(loaded.sample(t, 5, seed=1), imgs)
    (tmp_path / "pca" / "pca.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match=r"PCA-MDN file .*pca.npz is corrupt"):
        PCAMDN.load(tmp_path / "pca")
    with pytest.raises(FileNotFoundError, match=r"PCA-MDN file .*pca.npz is missing"):
        PCAMDN.load(tmp_path / "nowhere")


def test_pca_round_trip_is_exact_with_full_rank_and_lossy_with_few_components(image_data):
    _, _, x, y = image_data
    few = PCAMDN(2, TINY_MDN, seed=0).fit(x[:12], y[:12])
    full = PCAMDN(11, TINY_MDN, seed=0).fit(x[:12], y[:12])  # 12 centred images: rank 11
    np.testing.assert_array_equal(full.round_trip(x[:12]), x[:12])
    lossy = few.round_trip(x[:12])
    assert lossy.shape == (12, 12, 12) and set(np.unique(lossy)) <= {0, 1}
    assert np.mean(lossy != x[:12]) > 0.01
    with pytest.raises(ValueError, match="images must have shape"):
        few.round_trip(x[:2, :6, :6])


def test_direct_mdn_shapes_and_binary_values(image_data, tmp_path):
    _, _, x, y = image_data
    model = DirectMDN(TINY_MDN, seed=0).fit(x, y)
    head = model.mdn_.model_.get_layer("mixture_head").kernel.shape
    assert head[1] == 4 * (1 + 2 * 144)
    t = float(np.median(y))
    imgs = model.sample(t, 4, seed=2)
    assert imgs.shape == (4, 12, 12) and imgs.dtype == np.uint8
    assert set(np.unique(imgs)) <= {0, 1}
    assert model.sample(np.quantile(y, [0.3, 0.5, 0.7]), 2, seed=2).shape == (3, 2, 12, 12)
    assert np.all(np.isfinite(model.mdn_.history_["loss"]))
    loaded = DirectMDN.load(model.save(tmp_path / "direct"))
    np.testing.assert_array_equal(loaded.sample(t, 4, seed=2), imgs)
    (tmp_path / "direct" / "direct.json").write_text('{"image_shape": "12x12"}')
    with pytest.raises(ArtifactError, match=r"direct-MDN file .*direct.json is corrupt"):
        DirectMDN.load(tmp_path / "direct")


def test_gan_mdn_samples_latents_and_images(image_data):
    gen, z, _, y = image_data
    model = GANMDN(gen, TINY_MDN, seed=0).fit(z, y)
    t = float(np.median(y))
    lat, imgs = model.sample(t, 50, seed=3)
    assert lat.shape == (50, 4) and imgs.shape == (50, 12, 12) and imgs.dtype == np.uint8
    assert np.all(np.abs(lat) <= 1.0)
    np.testing.assert_array_equal(imgs, gen.generate(lat))
    assert 0.0 <= model.clip_coordinate_fraction_ <= model.clip_fraction_ <= 1.0
    raw = model.mdn_.sample(t, 50, seed=3)
    assert model.clip_fraction_ == pytest.approx(np.mean(np.any(np.abs(raw) > 1, axis=1)))
    lat2, imgs2 = model.sample(np.quantile(y, [0.3, 0.7]), 3, seed=3)
    assert lat2.shape == (2, 3, 4) and imgs2.shape == (2, 3, 12, 12)
    unclipped = GANMDN.from_mdn(gen, model.mdn_, clip=False)
    np.testing.assert_array_equal(unclipped.sample_latents(t, 50, seed=3), raw)


def test_baselines_reject_bad_inputs(image_data):
    _, _, x, y = image_data
    with pytest.raises(ValueError, match="binary"):
        PCAMDN(2, TINY_MDN).fit(x * 0.5, y)
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        DirectMDN(TINY_MDN).fit(x[0], y)
    with pytest.raises(ValueError, match="must match"):
        PCAMDN(2, TINY_MDN).fit(x, y[:-1])
    with pytest.raises(ValueError, match="exceeds"):
        PCAMDN(500, TINY_MDN).fit(x, y)
    with pytest.raises(ValueError, match="binarize"):
        PCAMDN(2, TINY_MDN, binarize="mean").fit(x, y)
    with pytest.raises(ValueError, match="non-finite"):
        PCAMDN(2, TINY_MDN).fit(x, np.where(np.arange(len(y)) == 3, np.nan, y))
    with pytest.raises(RuntimeError, match="not fitted"):
        DirectMDN().sample(0.6, 2)


def test_binarize_otsu_splits_two_levels_and_handles_flat_images():
    img = np.zeros((2, 4, 4))
    img[0, :2] = 0.4
    img[0, 2:] = 0.3
    out = binarize_otsu(img)
    assert out[0, :2].all() and not out[0, 2:].any()
    assert not out[1].any()  # a flat image has no Otsu threshold: 0.5 is used


# ---------------------------------------------------------------------------------- BO


def quadratic_objective(z0: np.ndarray, target: float):
    """y(z) = target (1 + |z - z0|^2): REP = |z - z0|^2, minimum 0 at z0."""
    calls: list[np.ndarray] = []

    def objective(z):
        z = np.asarray(z, dtype=np.float64)
        calls.append(z.copy())
        return target * (1.0 + np.sum((z - z0) ** 2, axis=1))

    return objective, calls


BO_CFG = BOConfig(n_initial=8, n_iterations=14, acq_optimizer="sampling", initial_chunk=3, seed=2)
RESUME_CFG = dataclasses.replace(BO_CFG, n_iterations=8)  # 16 evaluations


def test_bo_finds_the_optimum_of_an_analytic_objective():
    z0 = np.array([0.35, -0.4])
    objective, calls = quadratic_objective(z0, 0.6)
    res = run_bo(objective, 2, 0.6, BO_CFG, progress=False)
    assert res.n_evaluations == 22 == sum(len(c) for c in calls)
    assert res.rep_history.shape == res.best_history.shape == (22,)
    assert np.all(np.diff(res.best_history) <= 0)
    np.testing.assert_allclose(res.best_history, np.minimum.accumulate(res.rep_history))
    assert res.rep_best < 0.01 and np.linalg.norm(res.z_best - z0) < 0.1
    assert res.rep_best < res.best_history[BO_CFG.n_initial - 1]  # the GP phase improved it
    assert np.all(np.abs(res.z_history) <= 1.0)
    np.testing.assert_allclose(res.rep_history, np.sum((res.z_history - z0) ** 2, axis=1))


@pytest.mark.parametrize("warm", [False, True], ids=["cold-gp", "warm-gp"])
def test_bo_resume_repeats_no_evaluation_and_matches_an_uninterrupted_run(tmp_path, warm):
    cfg = dataclasses.replace(RESUME_CFG, gp_warm_start=warm, gp_restarts=0 if warm else 2)
    z0 = np.array([-0.2, 0.5, 0.1])
    reference_objective, _ = quadratic_objective(z0, 0.7)
    reference = run_bo(reference_objective, 3, 0.7, cfg, progress=False)

    class Interrupt(Exception):
        pass

    objective, calls = quadratic_objective(z0, 0.7)
    state = tmp_path / "bo_0.70.npz"

    def failing(z):
        if sum(len(c) for c in calls) >= 12:  # 8 initial + 4 iterations, then a crash
            raise Interrupt
        return objective(z)

    with pytest.raises(Interrupt):
        run_bo(failing, 3, 0.7, cfg, state_path=state, progress=False)
    assert load_bo_result(state).n_evaluations == 12 and not load_bo_result(state).finished
    resumed = run_bo(objective, 3, 0.7, cfg, state_path=state, progress=False)
    evaluated = np.concatenate(calls)
    assert len(evaluated) == reference.n_evaluations == resumed.n_evaluations == 16
    assert len(np.unique(evaluated.round(12), axis=0)) == 16  # no latent evaluated twice
    np.testing.assert_array_equal(resumed.z_history, reference.z_history)
    np.testing.assert_array_equal(resumed.best_history, reference.best_history)

    # a finished target is kept: no new evaluation
    n_before = len(calls)
    again = run_bo(objective, 3, 0.7, cfg, state_path=state, progress=False)
    assert len(calls) == n_before and again.n_evaluations == 16


def test_bo_smaller_budget_then_extension_equals_one_run(tmp_path):
    z0 = np.array([0.6, 0.6])
    objective, calls = quadratic_objective(z0, 0.55)
    state = tmp_path / "bo.npz"
    short = dataclasses.replace(RESUME_CFG, n_iterations=3)
    first = run_bo(objective, 2, 0.55, short, state_path=state, progress=False)
    assert first.n_evaluations == 11
    full = run_bo(objective, 2, 0.55, RESUME_CFG, state_path=state, progress=False)
    assert sum(len(c) for c in calls) == 16
    ref_obj, _ = quadratic_objective(z0, 0.55)
    np.testing.assert_array_equal(full.z_history, run_bo(ref_obj, 2, 0.55, RESUME_CFG,
                                                         progress=False).z_history)


def test_bo_rejects_bad_inputs_and_foreign_state(tmp_path):
    objective, _ = quadratic_objective(np.zeros(2), 0.6)
    with pytest.raises(ValueError, match="target"):
        run_bo(objective, 2, 0.0, BO_CFG, progress=False)
    with pytest.raises(ValueError, match="dim"):
        run_bo(objective, 0, 0.6, BO_CFG, progress=False)
    with pytest.raises(ValueError, match="one property value per row"):
        run_bo(lambda z: np.zeros(len(z) + 1), 2, 0.6, BO_CFG, progress=False)
    with pytest.raises(ValueError, match="non-finite"):
        run_bo(lambda z: np.full(len(z), np.nan), 2, 0.6, BO_CFG, progress=False)
    with pytest.raises(ValueError, match="gp_restarts must be >= 0"):
        run_bo(objective, 2, 0.6, dataclasses.replace(BO_CFG, gp_restarts=-1), progress=False)
    state = tmp_path / "s.npz"
    run_bo(objective, 2, 0.6, dataclasses.replace(BO_CFG, n_initial=3, n_iterations=0),
           state_path=state, progress=False)
    with pytest.raises(ValueError, match="another run"):
        run_bo(objective, 2, 0.65, dataclasses.replace(BO_CFG, n_initial=3, n_iterations=0),
               state_path=state, progress=False)
    state.write_bytes(state.read_bytes()[:100])  # a truncated file
    with pytest.raises(ArtifactError, match="state file .* is corrupt: .*delete it to start"):
        run_bo(objective, 2, 0.6, dataclasses.replace(BO_CFG, n_initial=3, n_iterations=0),
               state_path=state, progress=False)
    with pytest.raises(ArtifactError, match="state file .* is corrupt"):
        load_bo_result(state)
    with pytest.raises(FileNotFoundError, match="state file .* is missing"):
        load_bo_result(tmp_path / "none.npz")


def test_fast_variance_gp_predicts_what_scikit_optimize_predicts():
    from skopt.learning import GaussianProcessRegressor
    from skopt.learning.gaussian_process.kernels import ConstantKernel, Matern

    from invdes.inverse.bo_gp import FastVarianceGP

    rng = np.random.default_rng(3)
    x, xq = rng.uniform(size=(60, 4)), rng.uniform(size=(500, 4))
    y = np.sin(3 * x).sum(axis=1) + 0.05 * rng.standard_normal(60)  # conditioned by noise
    params = dict(kernel=ConstantKernel(1.0) * Matern(np.ones(4), nu=2.5), normalize_y=True,
                  noise="gaussian", n_restarts_optimizer=0, random_state=0)
    ref = GaussianProcessRegressor(**params).fit(x, y)
    fast = FastVarianceGP(**params).fit(x, y)
    mean_ref, std_ref = ref.predict(xq, return_std=True)
    mean, std = fast.predict(xq, return_std=True)
    np.testing.assert_allclose(mean, mean_ref, rtol=0, atol=1e-10)
    # var = k(x, x) - k*^T K^-1 k* cancels: the two evaluation orders agree to rounding of it
    np.testing.assert_allclose(std, std_ref, rtol=1e-3)
    assert np.all(np.isfinite(std)) and std.max() > 1e-3  # far points are uncertain


def test_gp_warm_start_begins_the_next_fit_at_the_last_hyperparameters():
    import warnings

    from skopt import Optimizer

    from invdes.inverse import bo_gp

    opt = Optimizer([(-1.0, 1.0)] * 3, base_estimator="GP", acq_optimizer="sampling",
                    random_state=0, n_initial_points=5)
    bo_gp.use_fast_gp(opt, 0)
    default_start = bo_gp.start_theta(opt)
    x = np.random.default_rng(0).uniform(-1, 1, size=(12, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.tell(x.tolist(), np.sum(x**2, axis=1).tolist())
    bo_gp.warm_start(opt)
    fitted = opt.models[-1].kernel_.k1.theta
    np.testing.assert_array_equal(bo_gp.start_theta(opt), fitted)
    assert not np.allclose(fitted, default_start)
    assert isinstance(opt.models[-1], bo_gp.FastVarianceGP)


# ---------------------------------------------------------------------------------- null


def test_null_baselines():
    z = random_latent_candidates(9, 500, seed=4)
    assert z.shape == (500, 9) and z.min() >= -1 and z.max() <= 1 and abs(z.mean()) < 0.05
    np.testing.assert_array_equal(z, random_latent_candidates(9, 500, seed=4))
    y = np.array([0.50, 0.61, 0.58, 0.70, 0.595, 0.66])
    np.testing.assert_array_equal(lookup_candidates(y, 0.6, 3), [4, 1, 2])
    with pytest.raises(ValueError, match="exceeds"):
        lookup_candidates(y, 0.6, 7)
    with pytest.raises(ValueError, match="target"):
        lookup_candidates(y, -0.6, 2)
    with pytest.raises(ValueError, match=">= 1"):
        random_latent_candidates(4, 0)
