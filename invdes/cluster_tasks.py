"""The tasks a Dask worker runs: simulate a block of latents (or of images) and return ``y``.

Tasks are small plain dicts (numpy arrays and strings, nothing pickled by class):

- a *latent task* (:func:`latent_task`) carries latents ``z`` (n, s*s) float32, the profile
  name, the generator's weights hash and the optics config as a dict. The worker rebuilds the
  images with the profile's :class:`invdes.gan.numpy_generator.NumpyGenerator`, loaded once per
  worker
  process from the worker's own artifact root (the committed ``artifacts/<profile>/gan/``) and
  refused when its weights hash differs from the client's. Pickled: 495 B for 4 Data-II
  latents, 575 B for 4 Data-I latents, 447 B for one latent (a BO evaluation); most of it is
  the optics dict (``benchmarks/cluster_speed.py`` prints the figure).
- an *image task* (:func:`image_task`) carries bit-packed binary images (n, ceil(h*w/8)) uint8,
  for images that have no latent (PCA-MDN and direct-MDN candidates): 512 B per 64x64 image,
  1152 B per 96x96 image (a task of 8: 4.5 kB and 9.6 kB pickled).

Both return ``{"y": (n,) float64, "identity": ..., "worker": address, "seconds": float}`` and,
when asked (``return_images``), ``"x_packed"``: the images simulated, bit-packed, so the client
can store them. ``identity`` is :func:`invdes.parallel.identity` evaluated on the worker, with
the hash of the optics config as the worker rebuilt it; the client refuses a result whose
identity differs from :func:`expected_identity`. Workers never write files.
"""

from __future__ import annotations

import time

import numpy as np

import invdes.config
from invdes.parallel import ClusterError, identity, pin_blas

#: Generators loaded in this worker process: {(profile, artifact root): NumpyGenerator}.
_GENERATORS: dict[tuple[str, str], object] = {}


def optics_dict(config) -> dict:
    """The optics config as a plain JSON-able dict (what a task carries)."""
    return invdes.config.to_dict(config)


def optics_from_dict(values: dict):
    """Rebuild an :class:`invdes.config.OpticsConfig` of *this* process from a task's dict
    (lists become tuples). ClusterError when this invdes does not know one of its fields."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return invdes.config.OpticsConfig(**kwargs)
    except TypeError as exc:
        raise ClusterError(f"this worker's OpticsConfig cannot take the client's optics config "
                           f"({exc}): it runs another invdes version") from None


def expected_identity(config) -> dict[str, str]:
    """The identity every result simulated with optics ``config`` must carry (client side)."""
    return identity(invdes.config.config_hash(config))


def latent_task(z: np.ndarray, config, *, profile_name: str, generator_hash: str,
                return_images: bool = False) -> dict:
    """A task that simulates the images of latents ``z`` (n, s*s) under optics ``config``."""
    z = np.ascontiguousarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[0] < 1:
        raise ValueError(f"latents must have shape (n, s*s) with n >= 1; got {z.shape}")
    return {"z": z, "profile": str(profile_name), "generator_hash": str(generator_hash),
            "optics": optics_dict(config), "return_images": bool(return_images)}


def image_task(images: np.ndarray, config, *, return_images: bool = False) -> dict:
    """A task that simulates binary ``images`` (n, h, w), shipped bit-packed."""
    from invdes.microstructure import pack_images

    packed, shape = pack_images(np.asarray(images, dtype=np.uint8))
    return {"x_packed": packed, "shape": tuple(int(v) for v in shape),
            "optics": optics_dict(config), "return_images": bool(return_images)}


def profile_generator(profile_name: str, expected_hash: str):
    """The NumpyGenerator of ``profile_name`` in this process's artifact root, cached per
    process; reloaded once when its hash is not ``expected_hash``, then ClusterError."""
    from invdes.artifacts import artifact_dir, artifact_root
    from invdes.gan.numpy_generator import NumpyGenerator

    key = (profile_name, str(artifact_root()))
    gen = _GENERATORS.get(key)
    if gen is None or gen.artifact_hash != expected_hash:
        gen = NumpyGenerator.from_profile(profile_name)
        _GENERATORS[key] = gen
    if gen.artifact_hash != expected_hash:
        path = artifact_dir(profile_name, "gan", create=False)
        raise ClusterError(f"worker {_worker_address()}: the generator in {path} has weights "
                           f"hash {gen.artifact_hash}, the client's {expected_hash}; give every "
                           "worker the client's committed generator artifact")
    return gen


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "(not a dask worker)"


def _simulate(images: np.ndarray, values: dict, return_images: bool, t0: float) -> dict:
    from invdes.microstructure import pack_images
    from invdes.physics.optics import absorption

    config = optics_from_dict(values)
    y = np.asarray(absorption(images, config, n_jobs=1, progress=False), dtype=np.float64)
    out = {"y": y, "identity": identity(invdes.config.config_hash(config)),
           "worker": _worker_address()}
    if return_images:
        out["x_packed"] = pack_images(images)[0]
    out["seconds"] = time.perf_counter() - t0
    return out


def simulate_latents(task: dict) -> dict:
    """Worker: images of ``task["z"]`` with the profile's generator, then their absorption."""
    from invdes.gan.numpy_generator import UPSCALE
    from invdes.microstructure import generate_images

    t0 = time.perf_counter()
    pin_blas()
    z = np.asarray(task["z"], dtype=np.float32)
    side = UPSCALE * int(round(np.sqrt(z.shape[1])))
    gen = profile_generator(task["profile"], task["generator_hash"])
    images = generate_images(gen, z, side)
    return _simulate(images, task["optics"], task["return_images"], t0)


def simulate_images(task: dict) -> dict:
    """Worker: absorption of the bit-packed images of ``task``."""
    from invdes.microstructure import unpack_images

    t0 = time.perf_counter()
    pin_blas()
    images = unpack_images(task["x_packed"], task["shape"])
    return _simulate(images, task["optics"], task["return_images"], t0)
