"""The microstructure GAN (Keras 3, TensorFlow backend): a 4- or 9-number design space.

A fully convolutional generator turns a spatial latent ``z`` of shape (s, s, 1), uniform on
[-1, 1], into a (32 s) x (32 s) image; trained once at s = 4 on 128x128 images from
:mod:`invdes.microstructure`, the same weights serve Data-I (s = 3, 96x96) and Data-II (s = 2,
64x64), as in the paper. At design time the tanh output is binarized per image with Otsu's
threshold (pixels above it become 1, the minority phase, like the training images).

Networks (REFERENCE.md, "GAN"):

- generator: 5 transposed convolutions, kernel 4, stride 2, 'same', filters 128/64/32/16/1;
  batch norm + ReLU after the first four, tanh after the last.
- discriminator: 4 convolutions, kernel 4, stride 2, 'same', filters 16/32/64/128, batch norm +
  LeakyReLU(0.2); then one 'valid' convolution over the whole remaining (side/16)^2 map to one
  logit.

Losses: discriminator: binary cross-entropy (real -> 1, fake -> 0). Generator: non-saturating
adversarial loss ``-log D(G(z))`` + ``collapse_weight`` x collapse loss + ``style_weight`` x
style loss, both on features of generated (and real) images:

- collapse loss = pulling-away term: mean squared cosine similarity between the feature vectors
  of different samples in a batch (1 for identical samples, near 0 for unrelated ones). The
  feature maps are centred per image and channel (their spatial mean removed) first, so the
  term compares spatial *patterns*, not global statistics (those are the style loss's job).
- style loss = sum over feature layers of ``||<Gram(fake)> - <Gram(real)>||^2 /
  ||<Gram(real)>||^2`` with batch-averaged Gram matrices (zero for identical batches; relative,
  so the 0.03 weight does not depend on the features' scale).

The paper took these features from an ImageNet VGG16, which cannot be downloaded here. The
substitute (``GANConfig.feature_extractor``):

- ``"random"`` (default): a fixed, never-trained stack of three random convolutions (5x5 x 32
  at full resolution, 3x3 x 64 at 1/2 and 3x3 x 64 at 1/4 resolution, He-normal filters drawn
  from the seed, ReLU, average pooling). It needs no download and no training, it cannot drift
  or be gamed during training (unlike the discriminator), and Gram matrices of random
  convolutional features are a known texture descriptor (shallow random networks synthesize
  textures about as well as VGG; Ustyuzhaninov et al. 2017). Chapter 3 measures its effect.
- ``"discriminator"``: the discriminator's four hidden feature maps (an alternative compared in
  the ablation).

Training (:func:`train_gan`): Adam(learning_rate, beta_1), ``critic_steps`` discriminator steps
per generator step, latents uniform on [-1, 1]; each iteration draws its batches from
``numpy.random.default_rng([seed, 1, iteration])``, so a resumed run sees the same batches as
an uninterrupted one. Deterministic (``keras.utils.set_random_seed`` + TensorFlow op
determinism). Checkpoints (weights, optimizer states, weight average, iteration, loss history)
are written atomically every ``checkpoint_every`` iterations and a rerun resumes from them.
Three standard additions to the paper's recipe (chapter 3 gives the measurements behind them):

- instance noise: the discriminator sees real and generated images plus Gaussian noise, its
  standard deviation falling linearly from ``instance_noise`` to ``instance_noise_final``
  (binary training images versus a tanh output are otherwise trivially separable);
- weight averaging: the generator kept is an exponential moving average of the trained one
  (``ema_decay``), which smooths the oscillation of the adversarial game;
- batch-norm recalibration: the kept generator's moving statistics are set to the exact
  statistics over 512 latents at the training side (:func:`recalibrate_batch_norm`).

Artifact (``invdes.artifacts.artifact_dir(profile, "gan")``): ``generator.npz`` (raw weights,
readable by :mod:`invdes.gan.numpy_generator` without TensorFlow), ``history.csv``,
``evaluation.json``, ``provenance.json``.

Modules (each imports only the ones above it; nothing here imports TensorFlow on import of
the package itself):

- :mod:`invdes.gan.numpy_generator`  weights format and numpy-only inference (no TensorFlow)
- :mod:`invdes.gan.model`            the two networks and their layer table
- :mod:`invdes.gan.losses`           random features, collapse and style losses
- :mod:`invdes.gan.generator`        the trained Keras generator at design time, loading
- :mod:`invdes.gan.evaluate`         statistics of generated against training images
- :mod:`invdes.gan.train`            the training loop, checkpoints, the artifact
- :mod:`invdes.gan.ablation`         the loss ablation of chapter 3
- ``python -m invdes.gan``           the training command line (:mod:`invdes.gan.__main__`)
"""
