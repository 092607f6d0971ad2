"""The study judge's accuracy on the record: data-set images simulated at growing truncation.

For each data set, ``per_target`` rows are drawn at random (seeded) among the rows whose label
lies within ``window`` of each target, and each is simulated with the data set's stack at every
truncation m of the first tier (orders -m..m in x and y, (2m+1)^2 plane waves); the later tiers
(higher m) take the first rows of each target's draw only. One result is one line of
``convergence.csv`` (``dataset, row, harmonics, absorption, seconds``), appended as soon as the
simulation ends (written atomically), so an interrupted run loses at most the simulations in
flight and a rerun skips every line already there. ``row`` indexes the committed data set: the
image is the generator's image of that row's latent.

Run it with ``python -m invdes.study.judge_convergence --profile paper --n-jobs 2``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from invdes import artifacts
from invdes.config import DATASETS, Profile
from invdes.study.common import as_profile, generator_for, generator_weights_hash

STEP = "judge"
CONVERGENCE_FILE = "convergence.csv"
COLUMNS = ("dataset", "row", "harmonics", "absorption", "seconds")


def select_rows(y: np.ndarray, targets, per_target: int, window: float, seed: int) -> np.ndarray:
    """Rows of ``y`` near each target, shape (len(targets), per_target), each row in random order.

    Rows within ``window`` of target k are drawn without replacement with
    ``default_rng([seed, k])``; a row near two targets is kept for the first only.
    """
    chosen: list[np.ndarray] = []
    taken: set[int] = set()
    for k, target in enumerate(targets):
        near = np.flatnonzero(np.abs(np.asarray(y) - target) <= window)
        near = np.array([r for r in near if r not in taken], dtype=int)
        if near.size < per_target:
            raise ValueError(f"only {near.size} rows within {window} of target {target}; "
                             f"{per_target} needed (widen the window)")
        pick = np.random.default_rng([seed, k]).choice(near, per_target, replace=False)
        taken.update(int(r) for r in pick)
        chosen.append(pick)
    return np.stack(chosen)


def plan(profile: Profile, labels: dict[str, np.ndarray]) -> pd.DataFrame:
    """Every (dataset, row, harmonics) of the study, in the order they run: tier by tier."""
    cfg = profile.judge_study
    jobs = []
    rows = {name: select_rows(labels[name], cfg.targets, cfg.per_target, cfg.window, cfg.seed)
            for name in labels}
    for harmonics, n_rows in cfg.tiers:
        for m in harmonics:
            for name, picked in rows.items():
                for row in picked[:, :n_rows].ravel():
                    jobs.append((name, int(row), int(m)))
    return pd.DataFrame(jobs, columns=["dataset", "row", "harmonics"])


def read_results(path: Path) -> pd.DataFrame:
    """The lines written so far (an empty frame when there are none)."""
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.read_csv(path)


def _write(path: Path, frame: pd.DataFrame) -> None:
    with artifacts.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")


def study_configs(profile: Profile) -> dict:
    """What one line's value depends on: the stacks and the generator's weights (the plan only
    says which lines to run, so a plan that grows keeps the lines already there)."""
    return {"optics": {name: dataclasses.asdict(profile.optics_for(name)) for name in DATASETS},
            "generator_weights": generator_weights_hash(profile)}


def _check_recorded(directory: Path, configs: dict) -> None:
    """Refuse to append to lines recorded under another config (one line, what to do)."""
    recorded = artifacts.read_provenance(directory)
    if recorded is not None and recorded.get("config_hash") != artifacts.expected_hash(configs):
        raise artifacts.ArtifactError(
            f"{directory / CONVERGENCE_FILE} was recorded under another config; move it away "
            "to start the study afresh")


def _simulate_one(image: np.ndarray, stack, harmonics: int) -> tuple[float, float]:
    """(absorption, seconds) of one image at truncation ``harmonics``, on one BLAS thread."""
    from threadpoolctl import threadpool_limits

    from invdes.physics.optics import absorption

    config = dataclasses.replace(stack, harmonics=(harmonics, harmonics))
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        value = float(absorption(image[None], config, n_jobs=1)[0])
        return value, time.perf_counter() - start


def is_current(profile: Profile | str | None = None) -> bool:
    """True when every line of the plan is recorded under the current stacks and generator,
    and a certified judge was chosen (``certified.json``; file times say nothing in a fresh
    clone, so ``invdes reproduce --steps judge`` always re-analyses the lines it finds)."""
    from invdes.data import load_dataset

    profile = as_profile(profile)
    directory = artifacts.artifact_dir(profile.name, STEP, create=False)
    if not artifacts.is_current(directory, study_configs(profile),
                                required=(CONVERGENCE_FILE, "certified.json")):
        return False
    labels = {name: load_dataset(name, profile, verify=0).y for name in DATASETS}
    done = read_results(directory / CONVERGENCE_FILE)
    seen = set(zip(done["dataset"], done["row"], done["harmonics"], strict=True))
    return all(k in seen for k in plan(profile, labels).itertuples(index=False, name=None))


def run(profile: Profile | str | None = None, *, n_jobs: int = 1, progress: bool = True,
        limit: int | None = None, force: bool = False) -> pd.DataFrame:
    """Simulate every line of the plan not yet in ``convergence.csv``; return all lines.

    ``limit`` stops after that many new simulations (for tests and short sessions); ``force``
    starts afresh (the recorded lines are removed first).
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    from invdes.data import load_dataset

    profile = as_profile(profile)
    datasets = {name: load_dataset(name, profile) for name in DATASETS}
    todo = plan(profile, {name: ds.y for name, ds in datasets.items()})
    directory = artifacts.artifact_dir(profile.name, STEP)
    configs = study_configs(profile)
    if force:
        for name in (CONVERGENCE_FILE, artifacts.PROVENANCE_FILE):
            (directory / name).unlink(missing_ok=True)
    _check_recorded(directory, configs)
    path = directory / CONVERGENCE_FILE
    done = read_results(path)
    seen = set(zip(done["dataset"], done["row"], done["harmonics"], strict=True))
    todo = todo[[k not in seen for k in todo.itertuples(index=False, name=None)]]
    if limit is not None:
        todo = todo.head(limit)
    generator = generator_for(profile)
    images = {(d, r): generator.generate(datasets[d].z[r : r + 1])[0]
              for d, r in set(zip(todo["dataset"], todo["row"], strict=True))}
    calls = (delayed(_simulate_one)(images[(d, r)], profile.optics_for(d), m)
             for d, r, m in todo.itertuples(index=False, name=None))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(calls)
    lines = [done]
    bar = tqdm(total=len(todo), desc="convergence", unit="sim", disable=not progress)
    for (d, r, m), (value, seconds) in zip(todo.itertuples(index=False, name=None), results,
                                           strict=True):
        lines.append(pd.DataFrame([(d, r, m, value, seconds)], columns=list(COLUMNS)))
        frame = pd.concat(lines, ignore_index=True)
        _write(path, frame)
        artifacts.write_provenance(directory, artifacts.provenance(
            configs, seed=profile.judge_study.seed, wall_time_s=frame["seconds"].sum(),
            lines=len(frame), plan=dataclasses.asdict(profile.judge_study)))
        bar.update(1)
    bar.close()
    return pd.concat(lines, ignore_index=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    frame = run(args.profile, n_jobs=args.n_jobs, limit=args.limit)
    print(frame.groupby(["dataset", "harmonics"]).size())


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------------------------
# The converged reference and the certified judge
# --------------------------------------------------------------------------------------------

REFERENCE_FILE = "reference.csv"


def orders_per_axis(m) -> np.ndarray:
    """N = 2 m + 1 plane-wave orders along each axis at truncation m."""
    return 2 * np.asarray(m, dtype=float) + 1


def fit_extrapolation(m, a, exponent: float) -> tuple[float, float, float]:
    """Least-squares A(N) = A_inf + c N^-p through the points (m_k, a_k), p given.

    Returns (A_inf, c, rms residual); with two points the fit is exact (Richardson)."""
    x = orders_per_axis(m) ** -float(exponent)
    design = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.asarray(a, float), rcond=None)
    resid = np.asarray(a, float) - design @ coef
    return float(coef[0]), float(coef[1]), float(np.sqrt(np.mean(resid**2)))


def fit_exponent(curves: list[tuple[np.ndarray, np.ndarray]], grid=None
                 ) -> tuple[float, float, float, float]:
    """The exponent p shared by several convergence curves ``[(m, a), ...]`` (each with at
    least three points): the p on ``grid`` with the least total squared residual, and its 95 %
    profile-likelihood interval (Gaussian residuals: the p whose residual sum of squares S
    satisfies n log(S / S_min) <= 3.84, n the number of points).

    Returns (p, rms residual at p, p_low, p_high)."""
    grid = np.linspace(0.25, 4.0, 76) if grid is None else np.asarray(grid, float)
    n = sum(len(m) for m, _ in curves)
    sse = np.array([sum(fit_extrapolation(m, a, p)[2] ** 2 * len(m) for m, a in curves)
                    for p in grid])
    best = int(np.argmin(sse))
    inside = grid[n * np.log(np.maximum(sse, 1e-300) / max(sse[best], 1e-300)) <= 3.84]
    return (float(grid[best]), float(np.sqrt(sse[best] / n)), float(inside.min()),
            float(inside.max()))


def _curves(frame: pd.DataFrame, min_m: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{row: (m, A)} of one data set's lines with m >= min_m, m ascending."""
    out = {}
    for row, g in frame[frame["harmonics"] >= min_m].groupby("row"):
        g = g.sort_values("harmonics")
        out[int(row)] = (g["harmonics"].to_numpy(), g["absorption"].to_numpy())
    return out


def reference(frame: pd.DataFrame, *, fit_from: int = 6, extrapolate_from: int = 8,
              stop: int = 10) -> tuple[pd.DataFrame, dict]:
    """The converged absorption of every image of the study, with its uncertainty.

    Per data set: the exponent p of A(N) = A_inf + c N^-p is fitted jointly on the images
    simulated beyond m = ``stop`` (points m >= ``fit_from``); each image's A_inf is the fit
    with that p through its points m >= ``extrapolate_from``. The uncertainty combines, in
    quadrature, (1) half the change of A_inf when p ranges over its 95 % interval
    (:func:`fit_exponent`), and (2) for an image that stops at m = ``stop``, the RMS difference,
    over the images that go further, between the extrapolation from their m <= ``stop``
    points alone and from all of them (for those images, their own fit's RMS residual).

    Returns (frame ``dataset, row, absorption, uncertainty``, ``{dataset: fit summary}``).
    """
    rows, fits = [], {}
    for name, data in frame.groupby("dataset"):
        fit_curves = _curves(data, fit_from)
        deep = {r: c for r, c in fit_curves.items() if c[0].max() > stop}
        if not deep:
            raise ValueError(f"{name}: no image simulated beyond m = {stop}; the exponent of "
                             "the extrapolation cannot be fitted")
        p, p_rms, p_lo, p_hi = fit_exponent(list(deep.values()))
        ext = _curves(data, extrapolate_from)
        shallow_vs_deep = [fit_extrapolation(*_upto(ext[r], stop), p)[0]
                           - fit_extrapolation(*ext[r], p)[0] for r in deep]
        d_rms = float(np.sqrt(np.mean(np.square(shallow_vs_deep))))
        for r, (m, a) in ext.items():
            if len(m) < 2:
                continue
            a_inf, _, resid = fit_extrapolation(m, a, p)
            spread = [fit_extrapolation(m, a, q)[0] for q in (p_lo, p_hi)]
            u_p = 0.5 * abs(spread[1] - spread[0])
            u_stop = resid if m.max() > stop else d_rms
            rows.append((name, r, a_inf, float(np.hypot(u_p, u_stop))))
        fits[name] = {"exponent": p, "exponent_rms": p_rms, "exponent_range": [p_lo, p_hi],
                      "deep_images": len(deep), "stop_rms": d_rms}
    ref = pd.DataFrame(rows, columns=["dataset", "row", "absorption", "uncertainty"])
    return ref, fits


def _upto(curve: tuple[np.ndarray, np.ndarray], m_max: int) -> tuple[np.ndarray, np.ndarray]:
    m, a = curve
    keep = m <= m_max
    return m[keep], a[keep]


def candidate_judges(exponent: float, studied=(4, 6, 8, 10)) -> list:
    """The settings the certified judge is chosen from: every truncation of the first tier,
    and the extrapolation through each pair of neighbours below the highest one (the pair at
    the top is the reference's own input, so it cannot be scored against it)."""
    from invdes.physics.judges import Judge, richardson_weights

    out = [Judge(f"m = {m}", (m,)) for m in studied]
    for lo, hi in zip(studied[:-2], studied[1:-1], strict=True):
        out.append(Judge(f"m = {lo}, {hi} extrapolated", (lo, hi),
                         richardson_weights(lo, hi, exponent)))
    return out


def judge_errors(frame: pd.DataFrame, ref: pd.DataFrame, judges_by_dataset: dict
                 ) -> pd.DataFrame:
    """A_judge - A_reference per (dataset, judge, row): ``dataset, judge, row, error,
    reference_uncertainty, seconds`` (the judge's simulation time for that image)."""
    wide = frame.pivot_table(index=["dataset", "row"], columns="harmonics",
                             values=["absorption", "seconds"])
    out = []
    for name, judges in judges_by_dataset.items():
        r = ref[ref["dataset"] == name].set_index("row")
        for judge in judges:
            cols_a = [("absorption", m) for m in judge.harmonics]
            cols_s = [("seconds", m) for m in judge.harmonics]
            w = wide.loc[name].dropna(subset=cols_a)
            w = w[w.index.isin(r.index)]
            value = w[cols_a].to_numpy() @ np.asarray(judge.weights)
            out.append(pd.DataFrame({
                "dataset": name, "judge": judge.name, "row": w.index.to_numpy(),
                "error": value - r.loc[w.index, "absorption"].to_numpy(),
                "reference_uncertainty": r.loc[w.index, "uncertainty"].to_numpy(),
                "seconds": w[cols_s].sum(axis=1).to_numpy()}))
    return pd.concat(out, ignore_index=True)


def error_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, judge): images, mean and std of the error, ``u95_error`` (the 95th
    percentile of |error|), ``u95`` (the 95th percentile of the error combined in quadrature
    with the reference's own uncertainty: how far from the converged absorption 95 % of the
    images may lie) and seconds per image on one core, cheapest first."""
    combined = np.hypot(errors["error"], errors["reference_uncertainty"])
    g = errors.assign(abs_error=errors["error"].abs(), combined=combined).groupby(
        ["dataset", "judge"], sort=False)
    table = g.agg(images=("error", "size"), mean=("error", "mean"), std=("error", "std"),
                  u95_error=("abs_error", lambda e: float(np.percentile(e, 95))),
                  u95=("combined", lambda e: float(np.percentile(e, 95))),
                  seconds=("seconds", "mean"))
    return table.reset_index().sort_values(["dataset", "seconds"], ignore_index=True)


def choose_certified(summary: pd.DataFrame, judges: list, bound: float, max_seconds: float):
    """The cheapest judge whose u95 is within ``bound``; when none is, the one with the least
    u95 among those that cost at most ``max_seconds`` per image. Returns (Judge with its u95 as
    uncertainty, whether the bound was met)."""
    import dataclasses

    by_name = {j.name: j for j in judges}
    rows = summary.sort_values("seconds")
    met = rows[rows["u95"] <= bound]
    if len(met):
        pick, ok = met.iloc[0], True
    else:
        affordable = rows[rows["seconds"] <= max_seconds]
        if not len(affordable):
            raise ValueError(f"no judge costs at most {max_seconds} s per image")
        pick, ok = affordable.loc[affordable["u95"].idxmin()], False
    judge = dataclasses.replace(by_name[pick["judge"]], name="certified",
                                uncertainty=round(float(pick["u95"]), 4))
    return judge, ok


def levels(profile: Profile) -> dict:
    """The truncations the analysis uses, from the plan's first tier (m ascending):
    ``studied`` (every image), ``fit_from``, ``extrapolate_from`` and ``stop``."""
    first = sorted(profile.judge_study.tiers[0][0])
    return {"studied": tuple(first), "fit_from": first[1] if len(first) > 2 else first[0],
            "extrapolate_from": first[-2], "stop": first[-1]}


def offset_fit(frame: pd.DataFrame, judge, study_m: int) -> dict:
    """Least-squares line of A_judge - A_study against A_study over the study's images, with
    its RMS residual: the offset the certified design expects before it simulates."""
    wide = frame.pivot_table(index="row", columns="harmonics", values="absorption")
    wide = wide.dropna(subset=list(judge.harmonics) + [study_m])
    a_study = wide[study_m].to_numpy()
    gap = wide[list(judge.harmonics)].to_numpy() @ np.asarray(judge.weights) - a_study
    slope, intercept = np.polyfit(a_study, gap, 1)
    resid = gap - (intercept + slope * a_study)
    return {"intercept": float(intercept), "slope": float(slope),
            "rms": float(np.sqrt(np.mean(resid**2))), "images": int(len(gap))}


def analyse(profile: Profile | str | None = None) -> dict:
    """Reference, error table and certified judge from ``convergence.csv``; writes
    ``reference.csv``, ``errors.csv`` and ``certified.json`` beside it (atomically) and
    returns the certified record by data set."""
    profile = as_profile(profile)
    cfg, lv = profile.judge_study, levels(profile)
    directory = artifacts.artifact_dir(profile.name, STEP)
    frame = read_results(directory / CONVERGENCE_FILE)
    if frame.empty:
        raise artifacts.ArtifactError(f"{directory / CONVERGENCE_FILE} is missing or empty: "
                                      f"{artifacts.rebuild_command(profile.name, STEP)}")
    ref, fits = reference(frame, fit_from=lv["fit_from"],
                          extrapolate_from=lv["extrapolate_from"], stop=lv["stop"])
    candidates = {name: candidate_judges(fits[name]["exponent"], lv["studied"])
                  for name in fits}
    errors = judge_errors(frame, ref, candidates)
    summary = error_summary(errors)
    record = {}
    for name in fits:
        table = summary[summary["dataset"] == name]
        judge, met = choose_certified(table, candidates[name], cfg.bound, cfg.max_seconds)
        singles = table[table["judge"].str.fullmatch(r"m = \d+")]
        record[name] = {
            "judge": judge.to_dict(), "bound": cfg.bound, "bound_met": met,
            "seconds_per_image": float(table.set_index("judge").loc[
                [j.name for j in candidates[name]
                 if j.harmonics == judge.harmonics][0], "seconds"]),
            "u95_by_harmonics": {str(int(j.split()[-1])): float(u)
                                 for j, u in zip(singles["judge"], singles["u95"], strict=True)},
            "offset": offset_fit(frame[frame["dataset"] == name], judge,
                                 int(profile.optics_for(name).harmonics[0])),
            "fit": fits[name],
            "candidates": table.drop(columns="dataset").to_dict(orient="records")}
    _write(directory / REFERENCE_FILE, ref)
    _write(directory / "errors.csv", errors)
    artifacts.write_json(directory / "certified.json", record)
    return record
