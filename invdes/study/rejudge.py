"""What survives an accurate judge: the study's answers simulated again by the certified judge.

The images re-judged, per data set and target:

- ``table1``: the 30 seed-0 candidates of each method of Table 1 (the evaluation's draw 0);
- ``designer``: the 30 designs of chapter 8's benchmark at the default budget;
- ``bo``: the best design of every BO run (the profile's seed and the spread seeds).

One group (source, dataset, method, target) is one chunk of ``rejudged.csv`` (columns
``source, dataset, method, target, candidate, absorption_study, absorption_certified``),
appended atomically when its last image is simulated: an interrupted run loses at most the
group in flight, and a rerun skips the groups already there. Run it with
``python -m invdes.study.rejudge --profile paper --n-jobs 2``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from invdes import artifacts
from invdes.config import DATASETS, Profile
from invdes.study.common import as_profile, generator_for

REJUDGED_FILE = "rejudged.csv"
COLUMNS = ("source", "dataset", "method", "target", "candidate", "absorption_study",
           "absorption_certified")
#: in the order they are re-judged (the conclusions of chapters 7 and 8 rest on the first ones)
TABLE1_METHODS = ("lookup", "gan-mdn", "pca-mdn", "random-latent", "direct-mdn")


def table1_groups(profile: Profile) -> Iterator[tuple[tuple, np.ndarray, np.ndarray]]:
    """((source, dataset, method, target), images, study absorption) of Table 1's draw 0."""
    cells = artifacts.artifact_dir(profile.name, "evaluate", create=False) / "cells"
    for method in TABLE1_METHODS:
        for name in DATASETS:
            for t in profile.evaluation.targets:
                path = cells / f"{name}_{method}_{t:.2f}.npz"
                if path.exists():  # a pool's first n_candidates are draw 0 (as in Table 1)
                    n = profile.evaluation.n_candidates
                    with np.load(path) as cell:
                        yield (("table1", name, method, t), cell["images"][:n],
                               cell["y_hat"][:n])


def designer_groups(profile: Profile) -> Iterator[tuple[tuple, np.ndarray, np.ndarray]]:
    """The designer's designs of chapter 8's benchmark (default budget)."""
    folder = artifacts.artifact_dir(profile.name, "benchmark", create=False)
    for name in DATASETS:
        path = folder / f"designs_{name}.npz"
        if not path.exists():
            continue
        with np.load(path) as designs:
            for t in profile.evaluation.targets:
                key = f"{t:.2f}"
                if f"{key}/images" in designs:
                    yield (("designer", name, "refine", t), designs[f"{key}/images"],
                           designs[f"{key}/absorption"])


def bo_groups(profile: Profile, generator) -> Iterator[tuple[tuple, np.ndarray, np.ndarray]]:
    """The best design of every BO run (method ``bo-seed<k>``)."""
    from invdes.study.bo_runs import load_bo_runs

    for name in DATASETS:
        runs = load_bo_runs(profile, name, profile.evaluation.targets)
        for (t, seed), res in sorted(runs.items()):
            z = np.asarray(res.z_best, np.float32)[None]
            yield (("bo", name, f"bo-seed{seed}", t), generator.generate(z),
                   np.array([res.y_best]))


def _key(frame: pd.DataFrame) -> set:
    return set(zip(frame["source"], frame["dataset"], frame["method"],
                   frame["target"].round(4), strict=True))


def run(profile: Profile | str | None = None, *, n_jobs: int = 1,
        sources=("designer", "bo", "table1")) -> pd.DataFrame:
    """Re-judge every group of ``sources`` not yet in ``rejudged.csv``; return all rows."""
    from tqdm import tqdm

    from invdes.physics.judges import load_certified

    profile = as_profile(profile)
    path = artifacts.artifact_dir(profile.name, "judge") / REJUDGED_FILE
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(COLUMNS))
    seen = _key(done) if len(done) else set()
    groups = {"table1": lambda: table1_groups(profile),
              "designer": lambda: designer_groups(profile),
              "bo": lambda: bo_groups(profile, generator_for(profile))}
    todo = [g for s in sources for g in groups[s]()
            if (g[0][0], g[0][1], g[0][2], round(g[0][3], 4)) not in seen]
    parts = [done]
    judges = {name: load_certified(profile.name, name) for name in DATASETS}
    with tqdm(total=sum(len(g[1]) for g in todo), desc="re-judge", unit="img") as bar:
        for (source, name, method, t), images, study in todo:
            cert = judges[name].absorption(images, profile.optics_for(name), n_jobs=n_jobs)
            parts.append(pd.DataFrame({
                "source": source, "dataset": name, "method": method, "target": t,
                "candidate": np.arange(len(images)), "absorption_study": study,
                "absorption_certified": cert}))
            _write(path, pd.concat(parts, ignore_index=True))
            bar.update(len(images))
    return pd.concat(parts, ignore_index=True)


def _write(path: Path, frame: pd.DataFrame) -> None:
    with artifacts.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--sources", default="designer,bo,table1")
    args = parser.parse_args(argv)
    frame = run(args.profile, n_jobs=args.n_jobs, sources=tuple(args.sources.split(",")))
    print(frame.groupby(["source", "dataset"]).size())


if __name__ == "__main__":
    main()
