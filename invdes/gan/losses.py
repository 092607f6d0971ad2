"""Features, collapse and style losses of the generator (TensorFlow).

The collapse loss (pulling-away term) and the style loss (relative Gram-matrix distance) work on
feature maps: by default a fixed random convolutional stack (:func:`random_features`), see
:mod:`invdes.gan`'s docstring for why.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

#: Feature extractors for the collapse and style losses (``GANConfig.feature_extractor``).
FEATURE_EXTRACTORS = ("random", "discriminator")

__all__ = ["FEATURE_CROP", "FEATURE_EXTRACTORS", "RANDOM_FEATURE_LAYERS", "center_crop",
           "collapse_loss", "gram_matrices", "random_feature_filters", "random_features",
           "softplus_mean", "style_loss"]

#: Random feature stack: (kernel side, filters, average-pool factor before the convolution).
RANDOM_FEATURE_LAYERS = ((5, 16, 1), (3, 32, 2), (3, 64, 2))


def random_feature_filters(seed: int = 0) -> list[np.ndarray]:
    """Fixed He-normal filters of the random feature stack, drawn from ``seed`` with numpy
    (platform independent): a list of (k, k, c_in, c_out) float32 arrays."""
    rng = np.random.default_rng([int(seed), 7])
    filters, c_in = [], 1
    for k, c_out, _ in RANDOM_FEATURE_LAYERS:
        std = math.sqrt(2.0 / (k * k * c_in))
        filters.append((rng.standard_normal((k, k, c_in, c_out)) * std).astype(np.float32))
        c_in = c_out
    return filters


def random_features(images, filters: list) -> list:
    """Feature maps of the random stack for images (n, h, w, 1) in [-1, 1]: a list of
    (n, h/p, w/p, c) tensors (p = 1, 2, 4)."""
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    out = []
    for (_, _, pool), kernel in zip(RANDOM_FEATURE_LAYERS, filters, strict=True):
        if pool > 1:
            x = tf.nn.avg_pool2d(x, pool, pool, "VALID")
        x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
        out.append(x)
    return out


#: Features for the collapse and style losses are computed on the central crop of this side
#: (a quarter of a 128x128 image: the statistics are stationary, and it cuts their cost 4x).
FEATURE_CROP = 64


def center_crop(images, side: int):
    """The central ``side`` x ``side`` crop of images (n, h, w, c); unchanged when not larger."""
    h = images.shape[1]
    if h is None or h <= side:
        return images
    a = (h - side) // 2
    return images[:, a:a + side, a:a + side, :]


def gram_matrices(features) -> tf.Tensor:
    """Per-image Gram matrices of feature maps (n, h, w, c): (n, c, c), divided by h*w."""
    f = tf.convert_to_tensor(features, dtype=tf.float32)
    hw = tf.cast(tf.shape(f)[1] * tf.shape(f)[2], tf.float32)
    return tf.einsum("nhwc,nhwd->ncd", f, f) / hw


def style_loss(features_fake, features_real) -> tf.Tensor:
    """Sum over layers of ``||mean_n Gram(fake) - mean_n Gram(real)||^2 / ||mean_n
    Gram(real)||^2``. Arguments: one (n, h, w, c) feature map or a list of them (same layers).
    Zero when the two batches are identical."""
    if not isinstance(features_fake, list | tuple):
        features_fake, features_real = [features_fake], [features_real]
    if len(features_fake) != len(features_real):
        raise ValueError(f"need the same number of feature layers for fake and real; got "
                         f"{len(features_fake)} and {len(features_real)}")
    total = tf.constant(0.0)
    for ff, fr in zip(features_fake, features_real, strict=True):
        g_fake = tf.reduce_mean(gram_matrices(ff), axis=0)
        g_real = tf.reduce_mean(gram_matrices(fr), axis=0)
        total += tf.reduce_sum(tf.square(g_fake - g_real)) / (
            tf.reduce_sum(tf.square(g_real)) + 1e-12
        )
    return total


def collapse_loss(features) -> tf.Tensor:
    """Pulling-away term: mean over pairs i != j of the squared cosine similarity of the
    feature vectors of samples i and j. ``features``: (n, d), or (n, h, w, c) feature maps,
    which are centred per sample and channel (spatial mean removed) and flattened first.
    1 for n identical samples (with non-constant maps), 0 for mutually orthogonal ones, 0 when
    n < 2."""
    f = tf.convert_to_tensor(features, dtype=tf.float32)
    if f.shape.rank == 4:
        f = f - tf.reduce_mean(f, axis=(1, 2), keepdims=True)
    n = tf.shape(f)[0]
    f = tf.reshape(f, (n, -1))
    f = f / (tf.norm(f, axis=1, keepdims=True) + 1e-8)
    sim = tf.square(tf.matmul(f, f, transpose_b=True))
    nf = tf.cast(n, tf.float32)
    off = tf.reduce_sum(sim) - tf.reduce_sum(tf.linalg.diag_part(sim))
    return tf.where(n > 1, off / tf.maximum(nf * (nf - 1.0), 1.0), 0.0)


def softplus_mean(x) -> tf.Tensor:
    """``mean(softplus(x))``: the cross-entropy of logits ``-x`` against label 1."""
    return tf.reduce_mean(tf.nn.softplus(x))
