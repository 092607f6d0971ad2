"""Chapter 8's benchmark: which designer gives new structures that hit the target, for how many
RCWA simulations (Ren et al. 2020's r_T curve and a novelty-constrained table).

For each data set and target:

- ``lookup``: the 30 training samples nearest the target (0 simulations, novelty 0);
- ``random-latent`` and ``gan-mdn``: the evaluate step's cells (draw 0 for the 30 designs,
  the simulated pool for r_T);
- ``flow``: ``pool`` samples of the conditional flow, simulated;
- ``adjoint``: the neural adjoint from ``pool`` random starts, ranked by the surrogate, the best
  ``pool`` simulated in rank order;
- ``designer``: :class:`invdes.inverse.designer.ComposedDesigner` with the profile's budget
  (the table, the designs and the wall time), and run again with as many simulations as one BO
  run (:func:`curve_budget`) for its r_T curve, when that is more;
- ``bo``: the recorded BO histories (every seed present).

r_T (expected best REP after T simulations): exact best-of-T for samplers (order statistics of
the pool), the running best in simulation order for the adjoint and the designer (its r_T
run); for BO the
same order statistics over its random initial latents while T is within them (they are
independent uniform draws, so their order says nothing), then the run's running best
(:func:`bo_curve`).
Files in ``<profile>/benchmark/``: ``table.csv`` (one row per method, data set and target),
``curves.npz`` (``<dataset>|<method>|<target>|<seed>`` -> r_T), ``designs_<dataset>.npz`` (the
designer's designs), ``provenance.json``. The designer's row also gives its r_T run's
simulations and the mean and max REP of that run's designs (``long_*``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from invdes import artifacts
from invdes.config import DATASETS, Profile
from invdes.inverse import novelty as nv
from invdes.study.common import generator_for, simulator_for, upstream_configs

log = logging.getLogger(__name__)

REQUIRED_FILES = ("table.csv", "curves.npz")
METHODS = ("lookup", "random-latent", "gan-mdn", "flow", "adjoint", "designer", "bo")


def benchmark_dir(profile_name: str) -> Path:
    return artifacts.artifact_dir(profile_name, "benchmark")


def pool_size(profile: Profile) -> int:
    """Simulated samples per target for the flow and the adjoint (the samplers' r_T reach)."""
    return max(profile.evaluation.n_candidates, profile.evaluation.best_of_n_max // 3)


def design_row(method: str, dataset: str, target: float, images, absorption, train_packed,
               delta: float, simulations: int, wall_s: float) -> dict:
    """One table row: how many of the designs are new (>= delta from every training image),
    their REP, the spread of the whole answer and the simulations spent."""
    rep = np.abs(np.asarray(absorption, np.float64) - target) / target
    packed = nv.pack(np.asarray(images))
    novelty = nv.nearest_distance(packed, train_packed)
    new = novelty >= delta
    pair = nv.pairwise_distance(packed)
    min_pair = float(pair[~np.eye(len(pair), dtype=bool)].min()) if len(pair) > 1 else np.nan
    return {"dataset": dataset, "target": target, "method": method, "n": int(len(rep)),
            "n_new": int(new.sum()), "mean_rep_pct": 100 * float(rep.mean()),
            "max_rep_pct": 100 * float(rep.max()),
            "mean_rep_new_pct": 100 * float(rep[new].mean()) if new.any() else np.nan,
            "median_novelty": float(np.median(novelty)), "min_pairwise": min_pair,
            "simulations": int(simulations), "wall_s": float(wall_s)}


def running_best(reps) -> np.ndarray:
    return np.minimum.accumulate(np.asarray(reps, np.float64))


def bo_curve(rep_history, n_initial: int) -> np.ndarray:
    """r_T of one BO run (n,): for T up to ``n_initial`` the expected best of T of its random
    initial evaluations (exact order statistics, as for the samplers), from there on the
    recorded running best (the two agree at T = ``n_initial``: both are the initial minimum)."""
    from invdes.study.evaluate import best_of_n_curve

    reps = np.asarray(rep_history, np.float64)
    k = min(int(n_initial), len(reps))
    if k == 0:
        return running_best(reps)
    return np.concatenate([best_of_n_curve(reps[:k]), running_best(reps)[k:]])


def curve_budget(profile: Profile) -> int:
    """Simulations of the designer's r_T run: as many as one BO run records (its random start
    and its iterations), so that the two curves meet at every T up to BO's last."""
    return int(profile.bo.n_initial + profile.bo.n_iterations)


def part_path(profile_name: str, dataset: str, target: float) -> Path:
    """The simulated part of one (data set, target): flow, adjoint and designer results."""
    return benchmark_dir(profile_name) / "parts" / f"{dataset}_{target:.2f}.npz"


def _simulated_part(profile: Profile, name: str, target: float, *, ds, train_packed, dm,
                    designer, generator, simulate, mdn) -> dict:
    """Run the flow, the neural adjoint and the composed designer at one target (the part of
    the benchmark that simulates); returns the arrays that :func:`_write_part` stores."""
    from invdes.inverse.adjoint import neural_adjoint

    ev = profile.evaluation
    out = {}
    t0 = time.perf_counter()
    z = dm.flow.sample(target, pool_size(profile), seed=ev.seed)
    out["flow/images"] = generator.generate(z)
    out["flow/y"] = simulate(out["flow/images"])
    out["flow/wall_s"] = time.perf_counter() - t0
    if dm.gradient_surrogate is not None:
        t0 = time.perf_counter()
        res = neural_adjoint(dm.gradient_surrogate, target, n_starts=pool_size(profile),
                             n_steps=profile.designer.adjoint_steps * 3, seed=ev.seed)
        out["adjoint/images"] = generator.generate(res.z)  # ranked by the surrogate
        out["adjoint/y"] = simulate(out["adjoint/images"])
        out["adjoint/wall_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = _design(designer, target, ds=ds, train_packed=train_packed, dm=dm,
                     generator=generator, simulate=simulate, mdn=mdn)
    out.update({"designer/images": result.images, "designer/y": result.absorption,
                "designer/simulations": result.simulations, "designer/trace": result.trace,
                "designer/wall_s": time.perf_counter() - t0,
                "designer/timings": np.array(json.dumps(result.timings_s))})
    return out


def _design(designer, target: float, *, ds, train_packed, dm, generator, simulate, mdn):
    """``designer.design`` at ``target`` with the data set's models and simulator."""
    return designer.design(
        target, generator=generator, simulate=simulate, train_z=ds.z, train_y=ds.y,
        train_packed=train_packed, delta=dm.delta, surrogate=dm.surrogate,
        gradient_surrogate=dm.gradient_surrogate, flow=dm.flow, mdn=mdn)


def run_benchmark(profile: Profile, configs: dict, *, gan_mdn: dict | None = None,
                  n_jobs: int | None = None, progress: bool = True) -> Path:
    """Run every method at every target of both data sets; write the files (module docstring).
    The simulated part of each (data set, target) is stored in ``parts/`` as soon as it is
    done (an interrupted run resumes there); the look-up, the evaluate step's samplers and BO
    are read again at every run. A data set without current designer models is skipped (its
    parts wait) and no table is written until every data set has run. ``gan_mdn``: {data set:
    fitted GANMDN} for the designer's MDN proposals (optional)."""
    from tqdm import tqdm

    from invdes.data import load_dataset
    from invdes.study import bo_runs, designer_models
    from invdes.study.evaluate import best_of_n_curve

    out = benchmark_dir(profile.name)
    ev = profile.evaluation
    k = ev.n_candidates
    chash = artifacts.expected_hash(configs)
    rows, curves, timings, deltas = [], {}, {}, {}
    generator = generator_for(profile)
    cells = artifacts.artifact_dir(profile.name, "evaluate/cells", create=False)
    missing = []
    with artifacts.Timer() as total:
        for name in DATASETS:
            try:
                dm = designer_models.load_designer_models(profile, name,
                                                          upstream_configs(profile, "designer"))
            except artifacts.ArtifactError as exc:  # the other data set's parts still run
                log.warning("benchmark: %s skipped: %s", name, exc)
                missing.append(name)
                continue
            ds = load_dataset(name, profile, verify=0)
            train_packed = nv.pack(ds.x)
            deltas[name] = dm.delta
            simulate = simulator_for(profile, name, n_jobs=n_jobs)
            designer = designer_models.designer_for(profile, n_designs=k)
            # the r_T run: the same designer given as many simulations as one BO run; its
            # running best is the designer's r_T curve, its designs say what that budget buys
            long_designer = (designer_models.designer_for(profile, budget=curve_budget(profile),
                                                          n_designs=k)
                             if curve_budget(profile) > designer.budget else None)
            designs = {}
            for target in tqdm(ev.targets, desc=f"benchmark {name}", unit="target",
                               disable=not progress):
                path = part_path(profile.name, name, target)
                part = _read_part(path, chash)
                mdn = (gan_mdn or {}).get(name)
                if part is None:
                    part = _simulated_part(profile, name, target, ds=ds,
                                           train_packed=train_packed, dm=dm, designer=designer,
                                           generator=generator, simulate=simulate, mdn=mdn)
                    _write_part(path, part, chash)
                if long_designer is not None and "designer/curve" not in part:
                    # stored on its own, so a part from before it existed keeps the rest
                    t0 = time.perf_counter()
                    result = _design(long_designer, target, ds=ds, train_packed=train_packed,
                                     dm=dm, generator=generator, simulate=simulate, mdn=mdn)
                    part.update({"designer/curve": result.trace,
                                 "designer/curve_rep": result.rep,
                                 "designer/curve_wall_s": time.perf_counter() - t0})
                    _write_part(path, part, chash)
                key = f"{target:.2f}"
                near = np.argsort(np.abs(ds.y - target), kind="stable")[:k]
                rows.append(design_row("lookup", name, target, ds.x[near], ds.y[near],
                                       train_packed, dm.delta, 0, 0.0))
                for method in ("random-latent", "gan-mdn"):  # the evaluate step's samplers
                    cell = cells / f"{name}_{method}_{key}.npz"
                    if not cell.exists():
                        continue
                    with np.load(cell) as f:
                        images, y_hat = f["images"], f["y_hat"]
                    if not np.all(np.isfinite(y_hat)):
                        continue  # not simulated yet
                    rows.append(design_row(method, name, target, images[:k], y_hat[:k],
                                           train_packed, dm.delta, k, 0.0))
                    curves[f"{name}|{method}|{key}|0"] = best_of_n_curve(
                        np.abs(y_hat - target) / target)
                for method in ("flow", "adjoint"):
                    if f"{method}/y" not in part:
                        continue
                    y = part[f"{method}/y"]
                    rows.append(design_row(method, name, target, part[f"{method}/images"][:k],
                                           y[:k], train_packed, dm.delta, len(y),
                                           float(part[f"{method}/wall_s"])))
                    reps = np.abs(y - target) / target
                    curves[f"{name}|{method}|{key}|0"] = (
                        best_of_n_curve(reps) if method == "flow" else running_best(reps))
                row = design_row("designer", name, target, part["designer/images"],
                                 part["designer/y"], train_packed, dm.delta,
                                 len(part["designer/trace"]), float(part["designer/wall_s"]))
                if "designer/curve" in part:  # what the r_T run's longer budget gave
                    long_rep = np.asarray(part["designer/curve_rep"], np.float64)
                    row.update({"long_simulations": len(part["designer/curve"]),
                                "long_mean_rep_pct": 100 * float(long_rep.mean()),
                                "long_max_rep_pct": 100 * float(long_rep.max())})
                rows.append(row)
                timings[f"{name}|{key}"] = {**json.loads(str(part["designer/timings"])),
                                            "wall_s": float(part["designer/wall_s"])}
                if "designer/curve_wall_s" in part:  # the r_T run's own wall time
                    timings[f"{name}|{key}"]["curve_wall_s"] = float(
                        part["designer/curve_wall_s"])
                curves[f"{name}|designer|{key}|0"] = part.get("designer/curve",
                                                              part["designer/trace"])
                designs[f"{key}/images"] = part["designer/images"]
                designs[f"{key}/absorption"] = part["designer/y"]
                designs[f"{key}/simulations"] = part["designer/simulations"]
                for (_, seed), bo in bo_runs.load_bo_runs(profile, name, [target]).items():
                    curves[f"{name}|bo|{key}|{seed}"] = bo_curve(bo.rep_history,
                                                                 bo.n_initial)  # every seed
                    if seed == profile.bo.seed:
                        rows.append({"dataset": name, "target": target, "method": "bo",
                                     "n": 1, "mean_rep_pct": 100 * bo.rep_best,
                                     "max_rep_pct": 100 * bo.rep_best,
                                     "simulations": bo.n_evaluations, "wall_s": bo.wall_time_s})
            with artifacts.atomic_path(out / f"designs_{name}.npz") as tmp, open(tmp, "wb") as fh:
                np.savez_compressed(fh, **designs)
        if missing:  # the parts that ran are stored; the table waits for every data set
            log.warning("benchmark incomplete: no table until the designer models of %s exist",
                        ", ".join(missing))
            return out
        table = pd.DataFrame(rows)
        with artifacts.atomic_path(out / "table.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        with artifacts.atomic_path(out / "curves.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{key: np.asarray(v, np.float64)
                                       for key, v in curves.items()})
    artifacts.write_provenance(out, artifacts.provenance(
        configs, seed=ev.seed, wall_time_s=total.seconds, designer_timings_s=timings,
        delta=deltas))
    return out


def _read_part(path: Path, chash: str) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            part = {key: f[key] for key in f.files}
    except (OSError, ValueError, EOFError):
        return None
    return part if str(part.pop("config_hash", "")) == chash else None


def _write_part(path: Path, part: dict, chash: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with artifacts.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, config_hash=np.array(chash), **part)


def load_table(profile_name: str) -> pd.DataFrame:
    return pd.read_csv(benchmark_dir(profile_name) / "table.csv")


def load_curves(profile_name: str) -> dict[tuple[str, str, float, int], np.ndarray]:
    """``{(dataset, method, target, seed): r_T}`` of ``curves.npz``."""
    with np.load(benchmark_dir(profile_name) / "curves.npz") as f:
        out = {}
        for key in f.files:
            d, m, t, s = key.split("|")
            out[(d, m, float(t), int(s))] = f[key]
    return out
