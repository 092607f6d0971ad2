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
    """What the study's lines depend on: its plan, the stacks and the generator's weights."""
    return {"judge_study": profile.judge_study,
            "optics": {name: dataclasses.asdict(profile.optics_for(name)) for name in DATASETS},
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


def run(profile: Profile | str | None = None, *, n_jobs: int = 1, progress: bool = True,
        limit: int | None = None) -> pd.DataFrame:
    """Simulate every line of the plan not yet in ``convergence.csv``; return all lines.

    ``limit`` stops after that many new simulations (for tests and short sessions).
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    from invdes.data import load_dataset

    profile = as_profile(profile)
    datasets = {name: load_dataset(name, profile) for name in DATASETS}
    todo = plan(profile, {name: ds.y for name, ds in datasets.items()})
    directory = artifacts.artifact_dir(profile.name, STEP)
    configs = study_configs(profile)
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
            lines=len(frame)))
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
