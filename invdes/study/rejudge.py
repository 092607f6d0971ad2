"""What survives an accurate judge: the study's answers simulated again by the certified judge.

The images re-judged, per data set and target:

- ``table1``: the 30 seed-0 candidates of each method of Table 1 (the evaluation's draw 0);
- ``designer``: the 30 designs of chapter 8's benchmark at the default budget;
- ``bo``: the best design of every BO run (the profile's seed and the spread seeds).

One chunk (source, dataset, method, target, first candidate) is appended to ``rejudged.csv``
(columns ``source, dataset, method, target, chunk, candidate, absorption_study,
absorption_certified``) atomically when its last image is simulated: an interrupted run loses
at most the chunk in flight, and a rerun skips the chunks already there. Table 1's cells are
done in two passes, their first ten candidates, then the rest. Run it with
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
COLUMNS = ("source", "dataset", "method", "target", "chunk", "candidate", "absorption_study",
           "absorption_certified")
#: in the order they are re-judged (the conclusions of chapters 7 and 8 rest on the first ones)
TABLE1_METHODS = ("lookup", "gan-mdn", "pca-mdn", "random-latent", "direct-mdn")


def table1_groups(profile: Profile, start: int = 0, stop: int | None = None
                  ) -> Iterator[tuple[tuple, np.ndarray, np.ndarray]]:
    """((source, dataset, method, target, first candidate), images, study absorption) of
    candidates ``start:stop`` of Table 1's draw 0 (a pool's first ``n_candidates``)."""
    cells = artifacts.artifact_dir(profile.name, "evaluate", create=False) / "cells"
    stop = profile.evaluation.n_candidates if stop is None else stop
    for method in TABLE1_METHODS:
        for name in DATASETS:
            for t in profile.evaluation.targets:
                path = cells / f"{name}_{method}_{t:.2f}.npz"
                if path.exists():
                    with np.load(path) as cell:
                        yield (("table1", name, method, t, start), cell["images"][start:stop],
                               cell["y_hat"][start:stop])


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
                    yield (("designer", name, "refine", t, 0), designs[f"{key}/images"],
                           designs[f"{key}/absorption"])


def bo_groups(profile: Profile, generator) -> Iterator[tuple[tuple, np.ndarray, np.ndarray]]:
    """The best design of every BO run (method ``bo-seed<k>``)."""
    from invdes.study.bo_runs import load_bo_runs

    for name in DATASETS:
        runs = load_bo_runs(profile, name, profile.evaluation.targets)
        for (t, seed), res in sorted(runs.items()):
            z = np.asarray(res.z_best, np.float32)[None]
            yield (("bo", name, f"bo-seed{seed}", t, 0), generator.generate(z),
                   np.array([res.y_best]))


#: Table 1's candidates are re-judged in two passes: the first ten of every cell (so that every
#: comparison has data early), then the rest
FIRST_PASS = 10


def _chunk_starts(frame: pd.DataFrame) -> set:
    """(source, dataset, method, target, first candidate) of every chunk already written."""
    if frame.empty:
        return set()
    starts = frame.groupby(["source", "dataset", "method", "target", "chunk"]).size().index
    return {(s, d, m, round(t, 4), c) for s, d, m, t, c in starts}


def run(profile: Profile | str | None = None, *, n_jobs: int = 1,
        sources=("designer", "bo", "table1"), targets=None) -> pd.DataFrame:
    """Re-judge every chunk of ``sources`` (at ``targets``, default all) not yet in
    ``rejudged.csv``; return all rows."""
    from tqdm import tqdm

    from invdes.physics.judges import load_certified

    profile = as_profile(profile)
    path = artifacts.artifact_dir(profile.name, "judge") / REJUDGED_FILE
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(COLUMNS))
    seen = _chunk_starts(done)
    first = min(FIRST_PASS, profile.evaluation.n_candidates)
    groups = {"table1": lambda: [*table1_groups(profile, 0, first),
                                 *table1_groups(profile, first)],
              "designer": lambda: designer_groups(profile),
              "bo": lambda: bo_groups(profile, generator_for(profile))}
    wanted = None if targets is None else {round(float(t), 4) for t in targets}
    todo = [g for s in sources for g in groups[s]()
            if len(g[1]) and (*g[0][:3], round(g[0][3], 4), g[0][4]) not in seen
            and (wanted is None or round(g[0][3], 4) in wanted)]
    parts = [done]
    judges = {name: load_certified(profile.name, name) for name in DATASETS}
    with tqdm(total=sum(len(g[1]) for g in todo), desc="re-judge", unit="img") as bar:
        for (source, name, method, t, start), images, study in todo:
            cert = judges[name].absorption(images, profile.optics_for(name), n_jobs=n_jobs)
            parts.append(pd.DataFrame({
                "source": source, "dataset": name, "method": method, "target": t,
                "chunk": start, "candidate": start + np.arange(len(images)),
                "absorption_study": study, "absorption_certified": cert}))
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
    parser.add_argument("--targets", type=float, nargs="+", default=None)
    args = parser.parse_args(argv)
    frame = run(args.profile, n_jobs=args.n_jobs, sources=tuple(args.sources.split(",")),
                targets=args.targets)
    print(frame.groupby(["source", "dataset"]).size())


if __name__ == "__main__":
    main()
