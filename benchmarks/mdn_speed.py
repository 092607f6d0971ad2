"""Time per training step of the paper's MDN with a wide head (the direct MDN: y -> every pixel),
plain TensorFlow graph against the XLA-compiled step :mod:`invdes.inverse.mdn` uses from
``XLA_MIN_DIM`` latent dimensions on.

One step = a minibatch of ``--batch`` rows through the network, the mixture NLL, its gradient
and an Adam update, on random binary "images" of ``--pixels`` pixels (4,096 = Data-II's 64x64,
9,216 = Data-I's 96x96). Prints the seconds per step and the ratio to the plain graph, measured
in the same run; also the cost of one epoch of 9,000 rows. Run on a quiet machine:

    .venv/bin/python benchmarks/mdn_speed.py [--pixels 4096] [--batch 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def time_step(pixels: int, batch: int, repeats: int, jit: bool, components: int = 40) -> float:
    import keras
    import tensorflow as tf

    from invdes.inverse.mdn import build_network, make_nll_loss

    model = build_network(pixels, components, 16, 4, seed=0)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = make_nll_loss(components, pixels, 1e-6)
    rng = np.random.default_rng(0)
    y = tf.constant(rng.standard_normal((batch, 1)).astype(np.float32))
    z = tf.constant((rng.random((batch, pixels)) < 0.5).astype(np.float32))

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(z, model(y, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    step().numpy()  # trace and compile
    t0 = time.perf_counter()
    for _ in range(repeats):
        loss = step()
    loss.numpy()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    steps_per_epoch = -(-9000 // args.batch)
    plain = time_step(args.pixels, args.batch, args.repeats, jit=False)
    xla = time_step(args.pixels, args.batch, args.repeats, jit=True)
    print(f"direct-MDN step, {args.pixels} pixels, batch {args.batch}:")
    for name, seconds in (("plain graph", plain), ("XLA", xla)):
        print(f"  {name:12s} {seconds:7.3f} s/step  {seconds * steps_per_epoch / 60:6.2f} "
              f"min/epoch of 9,000 rows  ratio {seconds / plain:5.2f}")


if __name__ == "__main__":
    main()
