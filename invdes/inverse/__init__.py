"""Inverse models: from a target absorption to candidate microstructures.

- :mod:`invdes.inverse.mdn`        the mixture density network (Keras 3 + TensorFlow Probability)
- :mod:`invdes.inverse.flow`       a conditional normalizing flow p(z | y) on the latent box
- :mod:`invdes.inverse.baselines`  GAN-MDN (the proposed method), PCA-MDN, the direct MDN,
  Bayesian optimization in the latent space and the null designers
- :mod:`invdes.inverse.bo_gp`      the Gaussian process behind the Bayesian optimization
- :mod:`invdes.inverse.surrogate`  a forward surrogate ensemble y ~ f(z, x) (MLP / periodic CNN)
- :mod:`invdes.inverse.adjoint`    the neural adjoint: gradient search of latents on a surrogate

They may import the foundation, :mod:`invdes.microstructure`, :mod:`invdes.physics`,
:mod:`invdes.gan` and :mod:`invdes.data`; nothing above (the study, the product, the book).
A new inverse method is a new module here with a ``fit`` / ``sample(target, n, seed)``
interface like the baselines'.
"""
