"""The stack search: which optical stack puts the GAN's images where the paper's labels lie.

The paper never published its optical stack (chapter 2). What is known is the distribution of
the labels of the authors' released Data-II sample: mean 0.666, std 0.036, all five targets
0.55-0.75 inside it. This module simulates a batch of GAN images in every stack of a grid
(period x band x film thickness x substrate, the rest of :class:`invdes.config.OpticsConfig`
fixed) and scores each stack against the goals of the faithful Table 1:

- mean absorption within ``mean_tolerance`` of ``goal_mean`` and std at least ``goal_std``;
- at least ``min_near`` samples within 1 % of every target in a data set of ``n_final`` rows
  (projected from the batch with a Gaussian kernel density estimate, since a few hundred images
  rarely reach the tails);
- morphology still matters: a low R^2 of y on the volume fraction.

One eigen-solve per (image, period, wavelength) serves every thickness and substrate
(:func:`invdes.physics.rcwa.single_layer_sweep`), so the grid costs little more than its periods and
bands. Images are simulated in ``n_jobs`` processes with one BLAS thread each, in chunks that
are written one by one (an interrupted search resumes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from invdes import artifacts
from invdes.config import TARGETS, OpticsConfig, config_hash, to_dict
from invdes.physics import rcwa
from invdes.physics.materials import permittivity
from invdes.physics.optics import check_binary_images, wavelengths_nm

#: Label statistics of the authors' released Data-II sample (REFERENCE.md).
PAPER_LABEL_MEAN = 0.666
PAPER_LABEL_STD = 0.036


@dataclass(frozen=True)
class StackGrid:
    """The stacks searched: every combination of period, band, thickness and substrate.

    ``base`` fixes everything else (absorber, inclusion, superstrate, harmonics, number of
    wavelengths, factorization). Lengths in nanometres.
    """

    periods_nm: tuple[float, ...] = (640.0, 800.0, 960.0)
    bands_nm: tuple[tuple[float, float], ...] = ((400.0, 650.0), (450.0, 750.0),
                                                 (500.0, 800.0))
    thicknesses_nm: tuple[float, ...] = tuple(float(d) for d in range(80, 261, 10))
    substrates: tuple[str, ...] = ("glass", "Ag")
    base: OpticsConfig = field(default_factory=OpticsConfig)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.periods_nm), len(self.bands_nm), len(self.thicknesses_nm),
                len(self.substrates))

    def stack(self, index: tuple[int, int, int, int]) -> OpticsConfig:
        """The :class:`OpticsConfig` of grid point ``(period, band, thickness, substrate)``."""
        p, b, d, s = index
        return dataclasses.replace(self.base, period_nm=float(self.periods_nm[p]),
                                   band_nm=tuple(self.bands_nm[b]),
                                   thickness_nm=float(self.thicknesses_nm[d]),
                                   substrate=self.substrates[s])


def image_grid_absorption(image: np.ndarray, grid: StackGrid) -> np.ndarray:
    """Band-averaged unpolarized absorption of one binary image in every stack of ``grid``.

    Returns shape ``grid.shape`` = (periods, bands, thicknesses, substrates).
    """
    img = check_binary_images(image)[0].astype(bool)
    base = grid.base
    out = np.empty(grid.shape)
    for ip, period in enumerate(grid.periods_nm):
        for ib, band in enumerate(grid.bands_nm):
            wls = wavelengths_nm(dataclasses.replace(base, band_nm=tuple(band)))
            total = np.zeros((len(grid.substrates), len(grid.thicknesses_nm)))
            for wl in wls:
                eps = np.where(img, permittivity(base.inclusion, wl),
                               permittivity(base.absorber, wl))
                r, t = rcwa.single_layer_sweep(
                    eps, wavelength=wl, period=period, thicknesses=grid.thicknesses_nm,
                    harmonics=base.harmonics, eps_in=permittivity(base.superstrate, wl),
                    eps_outs=[permittivity(s, wl) for s in grid.substrates],
                    formulation=base.formulation)
                total += (1.0 - r - t).mean(axis=-1)
            out[ip, ib] = (total / len(wls)).T
    return out


def _grid_absorption_serial(images: np.ndarray, grid: StackGrid) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return np.stack([image_grid_absorption(im, grid) for im in images])


def grid_absorption(images, grid: StackGrid, *, n_jobs: int = 1) -> np.ndarray:
    """Absorption of each image in every stack: shape (n, *grid.shape); ``n_jobs`` processes."""
    imgs = check_binary_images(images)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1; got {n_jobs}")
    if n_jobs == 1 or len(imgs) == 1:
        return _grid_absorption_serial(imgs, grid)
    from joblib import Parallel, delayed

    parts = np.array_split(imgs, min(n_jobs, len(imgs)))
    res = Parallel(n_jobs=len(parts))(delayed(_grid_absorption_serial)(p, grid) for p in parts)
    return np.concatenate(res)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackGoals:
    """What a stack must give (the faithful-Table-1 goals)."""

    goal_mean: float = PAPER_LABEL_MEAN
    mean_tolerance: float = 0.01
    goal_std: float = 0.033
    targets: tuple[float, ...] = TARGETS
    rel_window: float = 0.01
    min_near: int = 10
    n_final: int = 10_000
    max_r2: float = 0.5


def projected_near_counts(y: np.ndarray, goals: StackGoals) -> np.ndarray:
    """Expected number of rows within ``rel_window`` of each target among ``n_final`` rows.

    From a Gaussian kernel density estimate of ``y`` (Scott's bandwidth); shape (targets,).
    """
    from scipy.stats import gaussian_kde

    y = np.asarray(y, dtype=float)
    if y.size < 3 or np.std(y) == 0:
        return np.zeros(len(goals.targets))
    kde = gaussian_kde(y)
    mass = [kde.integrate_box_1d(t * (1 - goals.rel_window), t * (1 + goals.rel_window))
            for t in goals.targets]
    return goals.n_final * np.asarray(mass)


def r2_on_volume_fraction(y: np.ndarray, vf: np.ndarray) -> float:
    """R^2 of the least-squares line y ~ a + b vf (the share of y explained by vf alone)."""
    y, vf = np.asarray(y, float), np.asarray(vf, float)
    if np.std(vf) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(y, vf)[0, 1] ** 2)


def score_stacks(y: np.ndarray, vf: np.ndarray, grid: StackGrid,
                 goals: StackGoals | None = None):
    """One row per stack of ``grid``: statistics of y and which goals it meets.

    ``y``: (n, *grid.shape) from :func:`grid_absorption`; ``vf``: (n,) volume fractions.
    Returns a pandas DataFrame sorted best first: by number of goals met, then by the smallest
    projected count near a target, then by R^2.
    """
    import pandas as pd

    goals = goals or StackGoals()
    rows = []
    for index in np.ndindex(*grid.shape):
        ys = y[(slice(None), *index)]
        stack = grid.stack(index)
        near = projected_near_counts(ys, goals)
        mean, std = float(ys.mean()), float(ys.std(ddof=1))
        r2 = r2_on_volume_fraction(ys, vf)
        row = {"period_nm": stack.period_nm, "band_nm": f"{stack.band_nm[0]:.0f}-"
               f"{stack.band_nm[1]:.0f}", "thickness_nm": stack.thickness_nm,
               "substrate": stack.substrate, "mean": mean, "std": std,
               "min": float(ys.min()), "max": float(ys.max()), "r2_vf": r2}
        for t, c in zip(goals.targets, near, strict=True):
            row[f"near_{t:.2f}"] = float(c)
        row["mean_ok"] = abs(mean - goals.goal_mean) <= goals.mean_tolerance
        row["std_ok"] = std >= goals.goal_std
        row["near_ok"] = bool(near.min() >= goals.min_near)
        row["r2_ok"] = r2 < goals.max_r2
        row["goals_met"] = int(row["mean_ok"] + row["std_ok"] + row["near_ok"] + row["r2_ok"])
        row["min_near"] = float(near.min())
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["goals_met", "min_near", "r2_vf"],
                             ascending=[False, False, True]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The search as an artifact (chunked, resumable)
# --------------------------------------------------------------------------------------------

STEP = "stack-search"


def search_latents(latent_side: int, n_images: int, seed: int) -> np.ndarray:
    """Latents of the search images, (n, s*s) uniform on [-1, 1]; own seed, apart from data."""
    rng = np.random.default_rng([seed, latent_side])
    return rng.uniform(-1.0, 1.0, size=(n_images, latent_side * latent_side)).astype(np.float32)


def run_search(profile_name: str, latent_side: int, grid: StackGrid, *, n_images: int = 300,
               chunk_size: int = 20, seed: int = 12345, n_jobs: int = 2,
               progress: bool = True, name: str | None = None) -> dict:
    """Simulate ``n_images`` generator images of latent side ``latent_side`` in every stack.

    Chunks of ``chunk_size`` images are written to ``<artifact>/partial/`` as they finish and
    reused on a rerun; the finished search is ``<artifact>/<name>.npz`` (default name
    ``side<s>``) with ``z``, ``vf`` and ``y`` (n, *grid.shape). Returns those arrays.
    """
    from tqdm import tqdm

    from invdes.gan.numpy_generator import NumpyGenerator

    configs = {"grid": to_dict(grid), "n_images": n_images, "seed": seed,
               "latent_side": latent_side}
    directory = artifacts.artifact_dir(profile_name, STEP)
    name = name or f"side{latent_side}"
    final = directory / f"{name}.npz"
    key = config_hash(configs)
    if final.exists():
        with np.load(final) as data:
            if str(data["config_hash"]) == key:
                return {k: data[k] for k in ("z", "vf", "y")}
    generator = NumpyGenerator.from_profile(profile_name)
    z = search_latents(latent_side, n_images, seed)
    images = generator.generate(z)
    partial = directory / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    ys = []
    timer = artifacts.Timer()
    with timer:
        for start in tqdm(range(0, n_images, chunk_size), desc=f"stack search s={latent_side}",
                          disable=not progress):
            path = partial / f"{name}_{key}_{start:05d}.npz"
            if path.exists():
                with np.load(path) as data:
                    ys.append(data["y"])
                continue
            y = grid_absorption(images[start:start + chunk_size], grid, n_jobs=n_jobs)
            _save_npz(path, y=y)
            ys.append(y)
    y = np.concatenate(ys)
    vf = images.reshape(len(images), -1).mean(axis=1)
    _save_npz(final, z=z, vf=vf, y=y, config_hash=np.array(key))
    artifacts.write_json(directory / f"{name}.provenance.json", artifacts.provenance(
        configs, seed=seed, wall_time_s=timer.seconds, generator=str(generator.path)))
    return {"z": z, "vf": vf, "y": y}


def _save_npz(path: Path, **arrays) -> None:
    with artifacts.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


#: Stage 1: a coarse, cheap pass (harmonics m = 3) over the whole grid.
COARSE_GRID = StackGrid(thicknesses_nm=tuple(float(d) for d in range(80, 261, 20)),
                        base=OpticsConfig(harmonics=(3, 3)))
COARSE_IMAGES = 60


def fine_grid(table, base: OpticsConfig, *, top: int = 3, half_width_nm: float = 30.0,
              step_nm: float = 5.0) -> list[StackGrid]:
    """Stage 2 grids: the ``top`` distinct (period, band, substrate) of a coarse ``table``,
    each with thicknesses every ``step_nm`` within ``half_width_nm`` of its best thickness."""
    grids, seen = [], set()
    for _, row in table.iterrows():
        key = (row.period_nm, row.band_nm, row.substrate)
        if key in seen:
            continue
        seen.add(key)
        lo, hi = (float(v) for v in row.band_nm.split("-"))
        d = np.arange(row.thickness_nm - half_width_nm, row.thickness_nm + half_width_nm + 1e-9,
                      step_nm)
        grids.append(StackGrid(periods_nm=(float(row.period_nm),), bands_nm=((lo, hi),),
                               thicknesses_nm=tuple(float(x) for x in d if x > 0),
                               substrates=(row.substrate,), base=base))
        if len(grids) == top:
            break
    return grids


#: Stage 3: the accurate judge (m = 4) over the stacks that stage 1 favoured (period 640 nm,
#: the two red bands; thin films on silver, thick ones on glass).
M4_GRID = StackGrid(periods_nm=(640.0,), bands_nm=((450.0, 750.0), (500.0, 800.0)),
                    thicknesses_nm=(80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 220.0,
                                    240.0, 260.0),
                    substrates=("glass", "Ag"), base=OpticsConfig())


@dataclass(frozen=True)
class SearchStage:
    """One pass of the search: ``n_images`` new GAN images (own ``seed``) in every stack."""

    name: str
    n_images: int
    seed: int
    note: str


#: The search as it was run (chapter 2): a cheap wide pass, then the accurate judge on the
#: winner's neighbourhood (300 images) and on the favoured family of stacks (100 images).
STAGES: tuple[SearchStage, ...] = (
    SearchStage("coarse", COARSE_IMAGES, 777,
                "m = 3: 3 periods x 3 bands x 10 thicknesses x 2 substrates"),
    SearchStage("fine", 300, 778,
                "m = 4: the coarse winner's period, band and substrate; thickness +-20 nm"),
    SearchStage("m4", 100, 779, "m = 4: period 640 nm, 2 bands x 10 thicknesses x 2 substrates"),
    SearchStage("final", 300, 780, "m = 4: the chosen stack, thickness +-10 nm, on new images"),
)


def stage_grid(stage: SearchStage, latent_side: int, profile_name: str = "paper") -> StackGrid:
    """The grid a stage searched for the data set of latent side ``latent_side``."""
    if stage.name == "coarse":
        return COARSE_GRID
    if stage.name == "m4":
        return M4_GRID
    if stage.name == "final":
        from invdes.config import DATASETS, PAPER_STACKS

        name = next(n for n, s in DATASETS.items() if s == latent_side)
        chosen = PAPER_STACKS[name]
        d = chosen.thickness_nm
        return StackGrid(periods_nm=(chosen.period_nm,), bands_nm=(chosen.band_nm,),
                         thicknesses_nm=(d - 10.0, d, d + 10.0), substrates=(chosen.substrate,),
                         base=dataclasses.replace(chosen, thickness_nm=0.0))
    coarse = run_stage(STAGES[0], latent_side, profile_name)
    table = score_stacks(coarse["y"], coarse["vf"], COARSE_GRID)
    return fine_grid(table, OpticsConfig(), top=1, half_width_nm=20.0)[0]


def _stage_file(stage: SearchStage, latent_side: int) -> str:
    return {"coarse": f"side{latent_side}", "fine": f"fine-side{latent_side}-0",
            "m4": f"m4-side{latent_side}", "final": f"final-side{latent_side}"}[stage.name]


def run_stage(stage: SearchStage, latent_side: int, profile_name: str = "paper", *,
              n_jobs: int = 2, progress: bool = False) -> dict:
    """The arrays of one stage (``z``, ``vf``, ``y``), computed or reused (:func:`run_search`)."""
    grid = stage_grid(stage, latent_side, profile_name)
    return run_search(profile_name, latent_side, grid, n_images=stage.n_images,
                      chunk_size=10 if stage.n_images <= 100 else 25, seed=stage.seed,
                      n_jobs=n_jobs, progress=progress, name=_stage_file(stage, latent_side))


def stage_table(stage: SearchStage, latent_side: int, profile_name: str = "paper"):
    """:func:`score_stacks` of one stage, best first (a pandas DataFrame)."""
    res = run_stage(stage, latent_side, profile_name)
    return score_stacks(res["y"], res["vf"], stage_grid(stage, latent_side, profile_name))


if __name__ == "__main__":  # python -m invdes.study.stack_search: run (or reuse) the search
    import pandas as pd

    pd.set_option("display.width", 200)
    for side in (3, 2):
        for st in STAGES:
            print(f"latent side {side}, stage {st.name} ({st.n_images} images): {st.note}")
            print(stage_table(st, side).head(5).round(3).to_string())
