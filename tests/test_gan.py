"""Tests of invdes.gan (Keras generator/discriminator, losses, training, artifact, ablation)
and invdes.gan.numpy_generator (the TensorFlow-free inference path)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from invdes.artifacts import ArtifactError, artifact_dir, provenance, write_provenance
from invdes.config import GANConfig, MicrostructureConfig, Profile, get_profile

tf = pytest.importorskip("tensorflow")

from invdes.book import ch03_gan as ch3  # noqa: E402
from invdes.gan import ablation, train  # noqa: E402
from invdes.gan import generator as gan_generator  # noqa: E402
from invdes.gan import losses as gan_losses  # noqa: E402
from invdes.gan import model as gan_model  # noqa: E402
from invdes.gan import numpy_generator as ng  # noqa: E402
from invdes.gan.__main__ import main as gan_main  # noqa: E402
from invdes.gan.evaluate import evaluate_generator  # noqa: E402
from invdes.gan.generator import load_generator  # noqa: E402

TINY = Profile(
    name="smoke",
    microstructure=MicrostructureConfig(size=64),
    gan=GANConfig(latent_side=2, n_train_images=16, iterations=3, batch_size=4,
                  checkpoint_every=1, n_eval_images=8, seed=3),
)


@pytest.fixture(scope="module")
def generator():
    train.set_determinism(0)
    g = gan_generator.Generator()
    # an untrained generator has BN moving statistics 0/1; give it non-trivial ones
    rng = np.random.default_rng(0)
    arrays = g.raw_arrays()
    for key in arrays:
        if key.endswith("moving_mean"):
            arrays[key] = rng.normal(0, 0.1, arrays[key].shape).astype(np.float32)
        elif key.endswith("moving_variance"):
            arrays[key] = rng.uniform(0.5, 2.0, arrays[key].shape).astype(np.float32)
    return gan_generator.Generator.from_arrays(arrays)


@pytest.mark.parametrize("s", [2, 3, 4])
def test_shapes_and_binary(generator, s):
    z = ng.sample_latents(3, s, seed=s)
    assert z.shape == (3, s * s) and z.min() >= -1 and z.max() <= 1
    cont = generator.generate_continuous(z)
    assert cont.shape == (3, 32 * s, 32 * s) and cont.dtype == np.float32
    assert np.all(np.abs(cont) < 1)
    images = generator.generate(z.reshape(3, s, s))  # (n, s, s) accepted too
    assert images.shape == (3, 32 * s, 32 * s) and images.dtype == np.uint8
    assert set(np.unique(images)) <= {0, 1}
    assert 0 < images.mean() < 1


def test_bad_latent_shape(generator):
    with pytest.raises(ValueError, match="s\\*s"):
        generator.generate(np.zeros((2, 5), np.float32))


def test_network_shapes():
    g = gan_model.build_generator(3)
    assert tuple(g.output.shape[1:]) == (96, 96, 1)
    d = gan_model.build_discriminator(128)
    assert tuple(d.output.shape[1:]) == (1,)
    assert 150_000 < g.count_params() < 250_000
    with pytest.raises(ValueError, match="multiple of 16"):
        gan_model.build_discriminator(100)


def test_collapse_loss_identical_vs_different():
    rng = np.random.default_rng(0)
    one = rng.normal(size=(1, 8, 8, 4)).astype(np.float32)
    same = np.repeat(one, 6, axis=0)
    different = rng.normal(size=(6, 8, 8, 4)).astype(np.float32)
    c_same = float(gan_losses.collapse_loss(same))
    c_diff = float(gan_losses.collapse_loss(different))
    assert c_same == pytest.approx(1.0, abs=1e-5)
    assert c_diff < 0.1 < c_same


def test_style_loss_zero_for_identical_batches():
    rng = np.random.default_rng(1)
    feats = [rng.random((4, 8, 8, 3)).astype(np.float32),
             rng.random((4, 4, 4, 5)).astype(np.float32)]
    assert float(gan_losses.style_loss(feats, feats)) == 0.0
    other = [f * 1.5 for f in feats]
    assert float(gan_losses.style_loss(other, feats)) > 0.1


def test_random_features_fixed_by_seed():
    a, b = gan_losses.random_feature_filters(0), gan_losses.random_feature_filters(0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], gan_losses.random_feature_filters(1)[0])


def _tiny_batch(cfg, side):
    rng = np.random.default_rng(5)
    real = np.where(rng.random((cfg.batch_size, side, side, 1)) < 0.3, 1.0, -1.0)
    z = rng.uniform(-1, 1, (cfg.batch_size, cfg.latent_side, cfg.latent_side, 1))
    return real.astype(np.float32), z.astype(np.float32)


def test_generator_step_lowers_generator_loss():
    cfg = TINY.gan
    trainer = train.GANTrainer(cfg, image_side=64)
    real, z = _tiny_batch(cfg, 64)
    before = trainer.generator_losses(real, z)
    trainer.generator_step(real, z)
    after = trainer.generator_losses(real, z)
    assert np.isfinite(list(before.values())).all()
    assert after["g_loss"] < before["g_loss"]


def test_discriminator_features_variant_runs():
    cfg = dataclasses.replace(TINY.gan, feature_extractor="discriminator")
    trainer = train.GANTrainer(cfg, image_side=64)
    real, z = _tiny_batch(cfg, 64)
    losses = trainer.generator_step(real, z, sigma=0.3, seed=(1, 2))
    assert np.isfinite(list(losses.values())).all() and losses["style"] > 0


def test_batch_norm_recalibration_matches_batch_statistics():
    train.set_determinism(1)
    model = gan_model.build_generator(None)
    z = ng.sample_latents(64, 2, seed=4).reshape(64, 2, 2, 1)
    train.recalibrate_batch_norm(model, z, batch_size=16)
    inference = np.asarray(model(z, training=False))
    batch_stats = np.asarray(model(z, training=True))  # normalizes with this batch's statistics
    assert np.abs(inference - batch_stats).max() < 1e-3


def test_training_deterministic_and_resumable(tmp_path):
    images = np.random.default_rng(0).integers(0, 2, (16, 64, 64)).astype(np.uint8)
    runs = {}
    for name, stop in (("a", None), ("c", 1)):
        out = tmp_path / name
        g = train.train_gan(TINY, out, progress=False, evaluate=False, images=images,
                          stop_after=stop)
        if stop is not None:
            assert g is None and (out / ng.CHECKPOINT_FILE).exists()
            g = train.train_gan(TINY, out, progress=False, evaluate=False, images=images)
        assert not (out / ng.CHECKPOINT_FILE).exists()
        runs[name] = g.raw_arrays()
        hist = train.load_history(out)
        assert list(hist["iteration"]) == [1, 2, 3]
    for key in runs["a"]:
        np.testing.assert_array_equal(runs["a"][key], runs["c"][key], err_msg=key)


def test_save_load_round_trip(generator, tmp_path):
    z = ng.sample_latents(4, 3, seed=1)
    path = generator.save(tmp_path / "g.npz")
    loaded = gan_generator.Generator.load(path)
    np.testing.assert_array_equal(generator.generate(z), loaded.generate(z))
    assert loaded.artifact_hash == generator.artifact_hash


def test_numpy_path_matches_keras(generator, tmp_path):
    for s in (2, 3):
        z = ng.sample_latents(6, s, seed=10 + s)
        keras_cont = generator.generate_continuous(z)
        np_cont = ng.numpy_generate_continuous(generator.raw_arrays(), z)
        assert np.abs(keras_cont - np_cont).max() < 1e-4
        folded = generator.export_numpy(tmp_path / "folded.npz")
        np.testing.assert_array_equal(generator.generate(z), ng.numpy_generate(folded, z))
    npg = ng.NumpyGenerator(generator.save(tmp_path / "raw.npz"))
    assert npg.artifact_hash == generator.artifact_hash


def test_gan_numpy_does_not_import_tensorflow():
    code = ("import sys, invdes.gan.numpy_generator; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _write_artifact(generator, profile_name, configs=None):
    profile = get_profile(profile_name)
    directory = artifact_dir(profile_name, "gan")
    generator.save(directory / ng.WEIGHTS_FILE)
    configs = configs or ng.artifact_configs(profile)
    write_provenance(directory, provenance(configs, seed=0, wall_time_s=0.0,
                                           weights_hash=generator.artifact_hash))
    return directory / ng.WEIGHTS_FILE


def test_load_generator_errors(generator, tmp_path, monkeypatch):
    monkeypatch.setenv("INVDES_ARTIFACTS", str(tmp_path))
    fix = "invdes reproduce --profile smoke --steps gan --force"
    with pytest.raises(ArtifactError, match="missing") as err:
        load_generator("smoke")
    assert fix in str(err.value) and "generator.npz" in str(err.value)

    path = _write_artifact(generator, "smoke")
    z = ng.sample_latents(2, 2, seed=0)
    np.testing.assert_array_equal(load_generator("smoke").generate(z), generator.generate(z))
    np.testing.assert_array_equal(ng.NumpyGenerator.from_profile("smoke").generate(z),
                                  generator.generate(z))

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ArtifactError, match="unreadable") as err:
        load_generator("smoke")
    assert fix in str(err.value) and str(path) in str(err.value)

    profile = get_profile("smoke")
    other = {"gan": dataclasses.replace(profile.gan, iterations=profile.gan.iterations + 1),
             "microstructure": profile.microstructure}
    _write_artifact(generator, "smoke", configs=other)
    with pytest.raises(ArtifactError, match="another configuration") as err:
        load_generator("smoke")
    assert fix in str(err.value)


class _Fixed:
    """A stand-in 'generator' returning given images (cycled)."""

    def __init__(self, images):
        self.images = images

    def generate(self, z):
        idx = np.arange(len(z)) % len(self.images)
        return self.images[idx]


def test_evaluation_detects_collapse():
    from invdes import microstructure

    cfg = MicrostructureConfig(size=64)
    train = microstructure.generate(60, cfg, seed=0)
    fresh = microstructure.generate(40, cfg, seed=1)
    good = evaluate_generator(_Fixed(fresh), train, 2, n=40, seed=0)["summary"]
    assert good["checks"]["diversity"] and good["diversity_ratio"] > 0.9
    assert good["checks"]["vf_mean"] and good["novelty_ratio"] > 0.8
    collapsed = evaluate_generator(_Fixed(fresh[:1]), train, 2, n=40, seed=0)["summary"]
    assert not collapsed["checks"]["diversity"] and collapsed["diversity_ratio"] < 0.05
    copies = evaluate_generator(_Fixed(train[:40]), train, 2, n=40, seed=0)["summary"]
    assert copies["novelty_min_nn_generated"] == 0.0 and copies["novelty_ratio"] < 0.05


def test_ablation_config_variants():
    base = TINY.gan
    assert ablation.ablation_config(base, "full") == base
    assert ablation.ablation_config(base, "no-style").style_weight == 0.0
    other = ablation.ablation_config(base, "full-other-seed", iterations=7)
    assert other.seed == base.seed + 1 and other.iterations == 7
    assert dataclasses.replace(other, seed=base.seed, iterations=base.iterations) == base
    with pytest.raises(ValueError, match="unknown ablation variant 'no-such'.*allowed: full"):
        ablation.ablation_config(base, "no-such")
    with pytest.raises(ValueError, match="ablation iterations must be >= 1; got 0"):
        ablation.ablation_config(base, "full", iterations=0)


def test_ablation_command_line_rejects_bad_requests(capsys):
    for argv in (["--ablation", "full", "typo"], ["--ablation", "--ablation-iterations", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            gan_main(["--profile", "smoke", *argv])
        assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown ablation variant 'typo'; allowed: full" in err
    assert "ablation iterations must be >= 1; got 0" in err


def test_run_and_load_ablation(tmp_path, monkeypatch):
    """Two variants trained for 2 iterations are found again by load_ablation, each under its
    own config; a variant whose recorded config no longer matches is not."""
    monkeypatch.setenv("INVDES_ARTIFACTS", str(tmp_path))
    assert ablation.load_ablation("smoke") == {} and not any(tmp_path.iterdir())  # reads only
    smoke = get_profile("smoke")  # 128x128 images, so the evaluation can cut 64 and 96
    tiny = dataclasses.replace(smoke, gan=dataclasses.replace(
        smoke.gan, n_train_images=16, batch_size=4, n_eval_images=8, checkpoint_every=1))
    with pytest.raises(ValueError, match="unknown ablation variant"):
        ablation.run_ablation(tiny, ["full", "typo"], progress=False, iterations=2)
    assert not (tmp_path / "smoke").exists() or not any((tmp_path / "smoke").rglob("*.npz"))
    res = ablation.run_ablation(tiny, ["full", "full-other-seed"], progress=False, iterations=2)
    assert set(res) == {"full", "full-other-seed"}
    assert res["full-other-seed"]["provenance"]["config"]["gan"]["seed"] == tiny.gan.seed + 1
    loaded = ablation.load_ablation(tiny)
    assert set(loaded) == {"full", "full-other-seed"}
    table = ch3.ablation_table(loaded, "2x2")
    assert list(table.index) == ["full", "full-other-seed"]
    assert table[("", "iterations")].tolist() == [2, 2]
    assert table.shape == (2, 9) and table[("vf mean", "generated")].between(0, 1).all()
    # a different profile config (here: the seed) makes the stored variants stale
    other_profile = dataclasses.replace(tiny, gan=dataclasses.replace(tiny.gan, seed=99))
    assert ablation.load_ablation(other_profile) == {}


def test_ablation_effects_against_the_seed_spread():
    def result(vf, s2, div):
        summary = {"vf_mean_generated": vf, "vf_mean_training": 0.30, "vf_std_generated": 0.04,
                   "vf_std_training": 0.04, "s2_rmse": s2, "chord1_wasserstein": 1.0,
                   "diversity_ratio": div, "novelty_ratio": 0.9}
        return {"evaluation": {"3x3": {"summary": summary}}}

    results = {"full": result(0.29, 0.010, 0.90), "no-collapse": result(0.295, 0.030, 0.60),
               "full-other-seed": result(0.28, 0.012, 0.88)}
    rows = ch3.ablation_effects(results)
    assert rows.loc["S2 RMSE", "seed spread"] == "0.0020"
    assert rows.loc["S2 RMSE", "no-collapse"] == "+0.0200 *"  # 0.02 > 0.002: starred
    assert rows.loc["diversity ratio", "no-collapse"] == "-0.3000 *"
    assert rows.loc["vf mean error (abs)", "no-collapse"] == "-0.0050"  # 0.005 < spread 0.01
    assert "full-other-seed" not in rows.columns
    assert ch3.ablation_effects({"full": results["full"]}).empty


def test_summary_table_formats_checks():
    from invdes.book import tables

    ev = {"3x3": {"summary": {"side": 96, "vf_mean_generated": 0.29, "vf_mean_training": 0.31,
                              "vf_std_generated": 0.05, "vf_std_training": 0.04,
                              "s2_rmse": 0.00751, "chord1_mean_generated": 3.0,
                              "chord1_mean_training": 3.2, "diversity_ratio": 0.93,
                              "novelty_ratio": 0.97, "checks": {"vf": True, "s2": False}}}}
    table = ch3.summary_table(ev)
    assert table.index.tolist() == ["3x3"] and table.loc["3x3", "s2 ok"] == False  # noqa: E712
    html = tables.style(table).to_html()
    assert ">0.0075<" in html and ">yes<" in html and ">no<" in html
