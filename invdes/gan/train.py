"""Training the GAN: the trainer (two compiled steps), the loop with checkpoints, the artifact.

Recipe in :mod:`invdes.gan`'s docstring. :func:`train_gan` writes ``generator.npz``,
``history.csv``, ``evaluation.json`` and ``provenance.json`` and resumes from its checkpoint.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from invdes import microstructure
from invdes.artifacts import (
    ArtifactError,
    artifact_dir,
    atomic_path,
    expected_hash,
    is_current,
    provenance,
    write_json,
    write_provenance,
)
from invdes.config import GANConfig, Profile, get_profile
from invdes.gan.evaluate import evaluate_generator
from invdes.gan.generator import Generator, load_generator
from invdes.gan.losses import (
    FEATURE_CROP,
    FEATURE_EXTRACTORS,
    center_crop,
    collapse_loss,
    random_feature_filters,
    random_features,
    softplus_mean,
    style_loss,
)
from invdes.gan.model import (
    build_discriminator,
    build_generator,
    discriminator_features_model,
)
from invdes.gan.numpy_generator import (
    CHECKPOINT_FILE,
    EVALUATION_FILE,
    HISTORY_FILE,
    N_LAYERS,
    STEP,
    UPSCALE,
    WEIGHTS_FILE,
    WeightsFormatError,
    read_npz,
)

HISTORY_COLUMNS = (
    "iteration", "d_loss", "g_loss", "g_adv", "collapse", "style", "d_real", "d_fake", "time_s"
)

__all__ = ["GANTrainer", "HISTORY_COLUMNS", "iteration_batches", "load_history",
           "load_or_train_generator", "recalibrate_batch_norm", "set_determinism",
           "to_unit_range", "train_gan", "training_images"]


def _check_config(cfg: GANConfig, image_side: int) -> None:
    if cfg.latent_side * UPSCALE != image_side:
        raise ValueError(
            f"training images of side {image_side} need latent_side {image_side // UPSCALE} "
            f"(output side = 32 x latent side); GANConfig.latent_side is {cfg.latent_side}"
        )
    if cfg.feature_extractor not in FEATURE_EXTRACTORS:
        raise ValueError(f"feature_extractor must be one of {FEATURE_EXTRACTORS}; "
                         f"got {cfg.feature_extractor!r}")
    for name in ("iterations", "batch_size", "critic_steps", "checkpoint_every",
                 "n_train_images"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"GANConfig.{name} must be >= 1; got {getattr(cfg, name)}")
    if cfg.collapse_weight < 0 or cfg.style_weight < 0 or cfg.instance_noise < 0:
        raise ValueError("collapse_weight, style_weight and instance_noise must be >= 0")
    if not 0 <= cfg.label_smoothing < 1:
        raise ValueError(f"label_smoothing must lie in [0, 1); got {cfg.label_smoothing}")


def recalibrate_batch_norm(model: keras.Model, z, batch_size: int = 128) -> None:
    """Set the generator's batch-norm moving statistics to the exact mean and variance of each
    layer's input over latents ``z`` (n, s, s, 1), layer by layer (each layer sees the already
    recalibrated layers before it, in inference mode)."""
    z = np.asarray(z, dtype=np.float32)
    for i in range(1, N_LAYERS):
        sub = keras.Model(model.input, model.get_layer(f"deconv{i}").output)
        total = total_sq = None
        count = 0
        for a in range(0, len(z), batch_size):
            act = np.asarray(sub(z[a:a + batch_size], training=False), dtype=np.float64)
            act = act.reshape(-1, act.shape[-1])
            s1, s2 = act.sum(0), (act**2).sum(0)
            total = s1 if total is None else total + s1
            total_sq = s2 if total_sq is None else total_sq + s2
            count += len(act)
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 0.0)
        bn = model.get_layer(f"bn{i}")
        gamma, beta, _, _ = bn.get_weights()
        bn.set_weights([gamma, beta, mean.astype(np.float32), var.astype(np.float32)])


def set_determinism(seed: int) -> None:
    """Seed Python, numpy and TensorFlow and make TensorFlow ops deterministic (process-wide)."""
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


class GANTrainer:
    """Generator, discriminator, their Adam optimizers and the two compiled training steps.

    ``trainer.iteration(real_batches, latents)`` runs ``critic_steps`` discriminator steps and
    one generator step; :meth:`state_arrays` / :meth:`load_state_arrays` (de)serialize
    everything a resumed run needs.
    """

    def __init__(self, config: GANConfig, image_side: int = 128):
        _check_config(config, image_side)
        self.config = config
        self.image_side = image_side
        set_determinism(config.seed)
        self.generator = build_generator(None)
        self.discriminator = build_discriminator(image_side)
        self.g_opt = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
        self.d_opt = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
        self.g_opt.build(self.generator.trainable_variables)
        self.d_opt.build(self.discriminator.trainable_variables)
        self.uses_features = config.collapse_weight > 0 or config.style_weight > 0
        if config.feature_extractor == "random":
            filters = [tf.constant(f) for f in random_feature_filters(config.seed)]
            self.features: Callable = lambda x: random_features(center_crop(x, FEATURE_CROP),
                                                                filters)
        else:
            dfeat = discriminator_features_model(self.discriminator)
            self.features = lambda x: list(dfeat(x, training=True))
        self.ema_generator = None
        if config.ema_decay > 0:
            self.ema_generator = build_generator(None)
            self.ema_generator.set_weights(self.generator.get_weights())
            self._ema_update = tf.function(self._ema_update_impl)
        self._d_step = tf.function(self._d_step_impl)
        self._g_step = tf.function(self._g_step_impl)
        self._g_losses = tf.function(self._g_losses_impl)

    # -- steps -------------------------------------------------------------------------------
    def _noisy(self, x, sigma, seed):
        """Instance noise: x + sigma * N(0, 1), drawn statelessly from ``seed`` (int32 (2,))."""
        return x + sigma * tf.random.stateless_normal(tf.shape(x), seed, dtype=x.dtype)

    def _d_step_impl(self, real, z, sigma, seed):
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            logit_real = self.discriminator(self._noisy(real, sigma, seed), training=True)
            logit_fake = self.discriminator(self._noisy(fake, sigma, seed + 1), training=True)
            target = tf.fill(tf.shape(logit_real), 1.0 - self.config.label_smoothing)
            loss = (tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(target, logit_real))
                    + softplus_mean(logit_fake))
        variables = self.discriminator.trainable_variables
        self.d_opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return (loss, tf.reduce_mean(tf.sigmoid(logit_real)),
                tf.reduce_mean(tf.sigmoid(logit_fake)))

    def _g_losses_impl(self, real, z, sigma, seed):
        fake = self.generator(z, training=True)
        adv = softplus_mean(-self.discriminator(self._noisy(fake, sigma, seed), training=True))
        collapse = tf.constant(0.0)
        style = tf.constant(0.0)
        if self.uses_features:
            f_fake = self.features(fake)
            collapse = collapse_loss(f_fake[-1])
            f_real = [tf.stop_gradient(f) for f in self.features(real)]
            style = style_loss(f_fake, f_real)
        total = adv + self.config.collapse_weight * collapse + self.config.style_weight * style
        return total, adv, collapse, style

    def _g_step_impl(self, real, z, sigma, seed):
        with tf.GradientTape() as tape:
            total, adv, collapse, style = self._g_losses_impl(real, z, sigma, seed)
        variables = self.generator.trainable_variables
        self.g_opt.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return total, adv, collapse, style

    def noise_sigma(self, it: int) -> float:
        """Instance-noise standard deviation at iteration ``it``: linear from
        ``instance_noise`` (first iteration) to ``instance_noise_final`` (last)."""
        c = self.config
        frac = min(max(it / max(c.iterations - 1, 1), 0.0), 1.0)
        return float(c.instance_noise + (c.instance_noise_final - c.instance_noise) * frac)

    def _ema_update_impl(self, decay):
        for e, w in zip(self.ema_generator.weights, self.generator.weights, strict=True):
            e.assign(decay * e + (1.0 - decay) * w)

    def ema_update(self, it: int) -> None:
        """Polyak (exponential moving) average of the generator weights, decay
        ``min(ema_decay, (1 + it) / (10 + it))``; no-op when ``ema_decay`` is 0."""
        if self.ema_generator is not None:
            decay = min(self.config.ema_decay, (1.0 + it) / (10.0 + it))
            self._ema_update(tf.constant(decay, tf.float32))

    def final_generator(self, n_calibration: int = 512) -> Generator:
        """The generator to keep: the weight average when ``ema_decay`` > 0, else the trained
        generator; batch-norm statistics recalibrated on ``n_calibration`` latents at the
        training side (:func:`recalibrate_batch_norm`)."""
        model = build_generator(None)
        model.set_weights((self.ema_generator or self.generator).get_weights())
        rng = np.random.default_rng([int(self.config.seed), 2])
        s = self.config.latent_side
        z = rng.uniform(-1.0, 1.0, size=(n_calibration, s, s, 1)).astype(np.float32)
        recalibrate_batch_norm(model, z)
        return Generator(model)

    def _args(self, real, z, sigma, seed):
        return (tf.constant(real, tf.float32), tf.constant(z, tf.float32),
                tf.constant(sigma, tf.float32), tf.constant(seed, tf.int32))

    def generator_losses(self, real, z, sigma: float = 0.0, seed=(0, 0)) -> dict[str, float]:
        """Generator losses (no update) on a batch: real (n, side, side, 1) in [-1, 1], z
        (n, s, s, 1); ``sigma``: instance noise on the discriminator's input."""
        vals = self._g_losses(*self._args(real, z, sigma, seed))
        return dict(zip(("g_loss", "g_adv", "collapse", "style"),
                        (float(v) for v in vals), strict=True))

    def generator_step(self, real, z, sigma: float = 0.0, seed=(0, 0)) -> dict[str, float]:
        vals = self._g_step(*self._args(real, z, sigma, seed))
        return dict(zip(("g_loss", "g_adv", "collapse", "style"),
                        (float(v) for v in vals), strict=True))

    def discriminator_step(self, real, z, sigma: float = 0.0, seed=(0, 0)) -> dict[str, float]:
        vals = self._d_step(*self._args(real, z, sigma, seed))
        return dict(zip(("d_loss", "d_real", "d_fake"), (float(v) for v in vals), strict=True))

    def iteration(self, real_batches: list, latents: list, it: int = 0) -> dict[str, float]:
        """Iteration ``it``: ``critic_steps`` D steps (on ``real_batches[:-1]``,
        ``latents[:-1]``) then one G step (on the last of each). Returns the mean D losses and
        the G losses."""
        k = self.config.critic_steps
        sigma = self.noise_sigma(it)
        base = (int(self.config.seed) * 7919 + 3 * int(it)) % (2**30)
        d = [self.discriminator_step(real_batches[i], latents[i], sigma, (base, 2 * i))
             for i in range(k)]
        g = self.generator_step(real_batches[k], latents[k], sigma, (base, 2 * k))
        out = {key: float(np.mean([di[key] for di in d])) for key in d[0]}
        out.update(g)
        return out

    # -- state -------------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for prefix, items in (("G", self.generator.get_weights()),
                              ("D", self.discriminator.get_weights()),
                              ("gopt", [np.asarray(v) for v in self.g_opt.variables]),
                              ("dopt", [np.asarray(v) for v in self.d_opt.variables]),
                              ("E", self.ema_generator.get_weights()
                               if self.ema_generator is not None else [])):
            for i, a in enumerate(items):
                arrays[f"{prefix}/{i:03d}"] = np.asarray(a)
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        def group(prefix):
            keys = sorted(k for k in arrays if k.startswith(prefix + "/"))
            return [arrays[k] for k in keys]

        self.generator.set_weights(group("G"))
        self.discriminator.set_weights(group("D"))
        if self.ema_generator is not None:
            self.ema_generator.set_weights(group("E"))
        for prefix, opt in (("gopt", self.g_opt), ("dopt", self.d_opt)):
            values = group(prefix)
            if len(values) != len(opt.variables):
                raise ValueError(f"checkpoint holds {len(values)} {prefix} variables; the "
                                 f"optimizer has {len(opt.variables)}")
            for var, val in zip(opt.variables, values, strict=True):
                var.assign(val)


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """Binary images (n, h, w) -> float32 (n, h, w, 1) in {-1, +1} (phase 1 -> +1)."""
    return (np.asarray(images, dtype=np.float32) * 2.0 - 1.0)[..., None]


def iteration_batches(images: np.ndarray, config: GANConfig, it: int):
    """The batches of iteration ``it``: ``critic_steps + 1`` real batches (n, side, side, 1) and
    latents (n, s, s, 1), drawn from ``default_rng([seed, 1, it])`` (resumable)."""
    rng = np.random.default_rng([int(config.seed), 1, int(it)])
    reals, zs = [], []
    s, b = config.latent_side, config.batch_size
    for _ in range(config.critic_steps + 1):
        reals.append(to_unit_range(images[rng.integers(0, len(images), size=b)]))
        zs.append(rng.uniform(-1.0, 1.0, size=(b, s, s, 1)).astype(np.float32))
    return reals, zs


def training_images(profile: Profile, config: GANConfig | None = None) -> np.ndarray:
    """The GAN's training images: ``n_train_images`` from :func:`invdes.microstructure.generate`
    with the profile's microstructure config and the GAN seed, (n, side, side) uint8."""
    config = config or profile.gan
    return microstructure.generate(config.n_train_images, profile.microstructure,
                                   seed=config.seed)


def _write_checkpoint(path: Path, trainer: GANTrainer, iteration: int, history: list,
                      elapsed: float, chash: str) -> None:
    arrays = trainer.state_arrays()
    arrays["meta/iteration"] = np.array(iteration)
    arrays["meta/elapsed_s"] = np.array(elapsed)
    arrays["meta/config_hash"] = np.array(chash)
    arrays["meta/history"] = np.asarray(history, dtype=np.float64).reshape(-1,
                                                                           len(HISTORY_COLUMNS))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _write_history(path: Path, history: list) -> None:
    with atomic_path(path) as tmp:
        lines = [",".join(HISTORY_COLUMNS)]
        lines += [",".join(f"{v:.6g}" for v in row) for row in history]
        tmp.write_text("\n".join(lines) + "\n")


def load_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The loss history CSV as a dict column -> array."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_FILE
    data = np.genfromtxt(path, delimiter=",", names=True, ndmin=1)
    return {name: np.asarray(data[name]) for name in data.dtype.names}


def train_gan(profile: Profile | str | None = None, out_dir: str | os.PathLike | None = None, *,
              resume: bool = True, force: bool = False, progress: bool = True,
              config: GANConfig | None = None, stop_after: int | None = None,
              evaluate: bool = True, images: np.ndarray | None = None) -> Generator | None:
    """Train the GAN of ``profile`` and write its artifact; returns the trained Generator.

    ``out_dir`` defaults to ``artifact_dir(profile.name, "gan")``. An existing artifact whose
    recorded config (``profile.microstructure`` + GAN config) matches is reused unless
    ``force``. With ``resume`` a checkpoint of the same config continues where it stopped.
    ``config`` overrides ``profile.gan`` (ablations, tests). ``stop_after`` stops after that
    many iterations (a deliberate interruption: checkpoint written, returns None).
    ``images`` overrides the training images (tests).
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    cfg = config or profile.gan
    out = Path(out_dir) if out_dir is not None else artifact_dir(profile.name, STEP)
    out.mkdir(parents=True, exist_ok=True)
    configs = {"gan": cfg, "microstructure": profile.microstructure}
    chash = expected_hash(configs)
    if not force and is_current(out, configs, required=(WEIGHTS_FILE,)):
        gen = Generator.load(out / WEIGHTS_FILE)
        return gen

    t_setup = time.perf_counter()
    if images is None:
        images = training_images(profile, cfg)
    _check_config(cfg, images.shape[1])
    trainer = GANTrainer(cfg, image_side=images.shape[1])
    ckpt = out / CHECKPOINT_FILE
    start, elapsed, history = 0, 0.0, []
    if resume and ckpt.exists():
        try:
            arrays = read_npz(ckpt)
            if str(arrays["meta/config_hash"]) == chash:
                trainer.load_state_arrays(arrays)
                start = int(arrays["meta/iteration"])
                elapsed = float(arrays["meta/elapsed_s"])
                history = [list(r) for r in arrays["meta/history"]]
                print(f"resuming GAN training from {ckpt} at iteration {start}",
                      file=sys.stderr)
            else:
                print(f"ignoring checkpoint {ckpt}: another config", file=sys.stderr)
        except (WeightsFormatError, KeyError, ValueError) as exc:
            print(f"ignoring unreadable checkpoint {ckpt}: {exc}", file=sys.stderr)
    elif ckpt.exists():
        ckpt.unlink()
    setup_s = time.perf_counter() - t_setup

    from tqdm.auto import tqdm

    end = cfg.iterations if stop_after is None else min(cfg.iterations, int(stop_after))
    bar = tqdm(range(start, end), initial=start, total=cfg.iterations, disable=not progress,
               desc=f"GAN {profile.name}", mininterval=2.0, smoothing=0.05)
    t0 = time.perf_counter()
    elapsed0 = elapsed
    for it in bar:
        reals, zs = iteration_batches(images, cfg, it)
        vals = trainer.iteration(reals, zs, it)
        trainer.ema_update(it)
        elapsed = elapsed0 + time.perf_counter() - t0
        history.append([it + 1] + [vals[c] for c in HISTORY_COLUMNS[1:-1]] + [elapsed])
        bar.set_postfix({"D": f"{vals['d_loss']:.3f}", "G": f"{vals['g_adv']:.3f}",
                         "col": f"{vals['collapse']:.3f}", "sty": f"{vals['style']:.3f}"},
                        refresh=False)
        if (it + 1) % cfg.checkpoint_every == 0 and it + 1 < cfg.iterations:
            _write_checkpoint(ckpt, trainer, it + 1, history, elapsed, chash)
            _write_history(out / HISTORY_FILE, history)
    bar.close()
    if end < cfg.iterations:
        _write_checkpoint(ckpt, trainer, end, history, elapsed, chash)
        _write_history(out / HISTORY_FILE, history)
        return None

    gen = trainer.final_generator()
    gen.save(out / WEIGHTS_FILE)
    _write_history(out / HISTORY_FILE, history)
    n_timed = max(len(history) - 1, 1)
    per_it = (history[-1][-1] - history[0][-1]) / n_timed if len(history) > 1 else elapsed
    extra = {
        "weights_hash": gen.artifact_hash, "iterations": cfg.iterations,
        "n_train_images": int(len(images)), "image_side": int(images.shape[1]),
        "time_per_iteration_s": round(per_it, 4), "setup_s": round(setup_s, 2),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    if evaluate:
        t_eval = time.perf_counter()
        ev = {f"{s}x{s}": evaluate_generator(gen, images, s, n=cfg.n_eval_images,
                                              seed=cfg.seed + 1) for s in (2, 3, 4)}
        write_json(out / EVALUATION_FILE, ev)
        extra["evaluation_s"] = round(time.perf_counter() - t_eval, 2)
        extra["evaluation"] = {k: v["summary"] for k, v in ev.items()}
    write_provenance(out, provenance(configs, seed=cfg.seed, wall_time_s=elapsed, **extra))
    if ckpt.exists():
        ckpt.unlink()
    gen.path = out / WEIGHTS_FILE
    return gen



def load_or_train_generator(profile: Profile | str | None = None, *,
                            progress: bool = True) -> Generator:
    """The profile's generator: the current artifact if there is one, else trained now."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    try:
        return load_generator(profile.name)
    except ArtifactError:
        return train_gan(profile, progress=progress)
