"""Physics: the optical judge of every design.

- :mod:`invdes.physics.materials`  dispersive permittivities of the stack's materials
- :mod:`invdes.physics.rcwa`       our RCWA solver (scattering matrices; Laurent and Li rules)
- :mod:`invdes.physics.optics`     the optical stack and its scalar property, band-averaged
  absorption

Imports only the foundation (:mod:`invdes.config`, :mod:`invdes.artifacts`,
:mod:`invdes.checks`). A new optical stack is a new :class:`invdes.config.OpticsConfig` (and,
for new layers, a new function in :mod:`invdes.physics.optics`); the solver stays as it is.
"""
