"""invdes: deep-learning inverse design of two-phase microstructures for a target absorption.

Modules, one concept each:

- :mod:`invdes.config`          profiles (``smoke``, ``paper``), one frozen dataclass tree each
- :mod:`invdes.artifacts`       artifact cache with provenance, atomic writes, config hashing
- :mod:`invdes.microstructure`  Gaussian-random-field binary images and their statistics
- :mod:`invdes.materials`       dispersive permittivities (a-Si, SiO2, ...)
- :mod:`invdes.rcwa`            our RCWA (S-matrix, Laurent and Li factorizations)
- :mod:`invdes.optics`          the optical stack and the scalar property: band-averaged absorption
- :mod:`invdes.gan`             the fully convolutional microstructure GAN (Keras 3)
- :mod:`invdes.mdn`             the mixture density network (Keras 3 + TFP)
"""

import os as _os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) hides real messages.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
