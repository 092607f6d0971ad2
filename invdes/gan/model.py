"""The GAN's two networks (Keras 3): the fully convolutional generator and the discriminator.

Architecture in :mod:`invdes.gan`'s docstring; :func:`architecture_table` lists the layers.
"""

from __future__ import annotations

import keras

from invdes.gan.numpy_generator import UPSCALE

GENERATOR_FILTERS = (128, 64, 32, 16, 1)
DISCRIMINATOR_FILTERS = (16, 32, 64, 128)
KERNEL = 4
LEAKY_SLOPE = 0.2
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99

__all__ = ["BN_EPSILON", "architecture_table", "build_discriminator", "build_generator",
           "discriminator_features_model"]


def build_generator(latent_side: int | None = None) -> keras.Model:
    """The generator: (n, s, s, 1) latent -> (n, 32 s, 32 s, 1) tanh image.

    ``latent_side=None`` builds it with free spatial dimensions (one weight set for every s).
    """
    if latent_side is not None and latent_side < 1:
        raise ValueError(f"latent_side must be a positive integer or None; got {latent_side}")
    inputs = keras.Input(shape=(latent_side, latent_side, 1), name="z")
    x = inputs
    for i, filters in enumerate(GENERATOR_FILTERS, start=1):
        last = i == len(GENERATOR_FILTERS)
        x = keras.layers.Conv2DTranspose(
            filters, KERNEL, strides=2, padding="same", use_bias=last, name=f"deconv{i}"
        )(x)
        if last:
            x = keras.layers.Activation("tanh", name="tanh")(x)
        else:
            x = keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"bn{i}"
            )(x)
            x = keras.layers.ReLU(name=f"relu{i}")(x)
    return keras.Model(inputs, x, name="generator")


def build_discriminator(image_side: int = 128) -> keras.Model:
    """The discriminator: (n, side, side, 1) image in [-1, 1] -> (n, 1) logit.

    ``image_side`` must be a multiple of 16 (four stride-2 convolutions, then one convolution
    over the whole remaining map).
    """
    if image_side < 16 or image_side % 16:
        raise ValueError(f"image_side must be a positive multiple of 16; got {image_side}")
    inputs = keras.Input(shape=(image_side, image_side, 1), name="image")
    x = inputs
    for i, filters in enumerate(DISCRIMINATOR_FILTERS, start=1):
        x = keras.layers.Conv2D(
            filters, KERNEL, strides=2, padding="same", use_bias=False, name=f"conv{i}"
        )(x)
        x = keras.layers.BatchNormalization(
            momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"dbn{i}"
        )(x)
        x = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"lrelu{i}")(x)
    x = keras.layers.Conv2D(1, image_side // 16, padding="valid", name="logit_conv")(x)
    x = keras.layers.Flatten(name="logit")(x)
    return keras.Model(inputs, x, name="discriminator")



def discriminator_features_model(discriminator: keras.Model) -> keras.Model:
    """The discriminator's four hidden feature maps (LeakyReLU outputs) as one model."""
    outputs = [discriminator.get_layer(f"lrelu{i}").output
               for i in range(1, len(DISCRIMINATOR_FILTERS) + 1)]
    return keras.Model(discriminator.input, outputs, name="discriminator_features")


def architecture_table(latent_side: int = 4) -> list[dict]:
    """Layer rows (network, layer, type, output shape, parameters) of both networks for latent
    side ``latent_side`` (the discriminator at the training side 32 s)."""
    rows = []
    for net in (build_generator(latent_side), build_discriminator(UPSCALE * latent_side)):
        for layer in net.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            shape = tuple(layer.output.shape[1:])
            extra = ""
            if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv2DTranspose):
                extra = f" {layer.kernel_size[0]}x{layer.kernel_size[1]}/{layer.strides[0]}"
            rows.append({
                "network": net.name, "layer": layer.name,
                "type": type(layer).__name__ + extra,
                "output": "x".join(str(v) for v in shape),
                "parameters": int(layer.count_params()),
            })
    return rows

