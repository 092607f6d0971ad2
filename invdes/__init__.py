"""invdes: deep-learning inverse design of two-phase microstructures for a target absorption.

Layers, each importing only the ones above it in this list (README, "Architecture";
``tests/test_architecture.py`` checks it):

- foundation: :mod:`invdes.config` (profiles), :mod:`invdes.artifacts` (cache, provenance),
  :mod:`invdes.checks` (shared input checks)
- microstructures: :mod:`invdes.microstructure` (Gaussian-random-field images, statistics)
- physics: :mod:`invdes.physics` (materials, RCWA, the optical stack; ``invdes.rcwa`` is kept
  as the solver's public entry point)
- the generative model: :mod:`invdes.gan` (Keras GAN; numpy inference)
- data sets: :mod:`invdes.data` (Data-I and Data-II)
- inverse models: :mod:`invdes.inverse` (MDN, GAN-MDN, PCA-MDN, direct MDN, BO, null designers)
- study: :mod:`invdes.study` (evaluation protocol, the ``reproduce`` pipeline)
- product and book: :mod:`invdes.design`, :mod:`invdes.cli`, :mod:`invdes.book` (the
  chapters' tables and figures)
"""

import os as _os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) hides real messages.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Keras 3 runs on TensorFlow here (invdes.gan, invdes.inverse.mdn); set before any keras import.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
