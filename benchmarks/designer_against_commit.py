"""The composed designer of this working tree against the one of an earlier commit, same inputs.

For each development target (between chapter 8's, so that no choice is made on the reported
targets) both designers run once with the profile's settings, the committed designer models,
the data set and the GAN-MDN; the earlier commit's code runs in a subprocess from a temporary
``git worktree`` (``PYTHONPATH`` points there, the artifacts stay this checkout's). Prints the
mean and max REP of the 30 verified designs, the look-up's mean REP, and the ratio of the
working tree's mean to the commit's (the baseline, measured in the same run). The designs
are deterministic, so the REPs do not depend on the machine's load; the wall times do.

Usage: ``python benchmarks/designer_against_commit.py --commit REV [--profile paper]
[--dataset data-i] [--targets 0.575 0.625 0.675 0.725] [--n-jobs 2]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import designer_setup  # beside this script, as for the other designer comparisons

ROOT = Path(__file__).resolve().parents[1]


def run_designs(profile: str, dataset: str, targets: list[float], n_jobs: int) -> list[dict]:
    """One design per target with the ``invdes`` importable here: a dict per target."""
    import numpy as np

    from invdes.inverse.baselines import lookup_candidates

    setup = designer_setup.load(profile, dataset, n_jobs)
    y = setup.dataset.y
    out = []
    for target in targets:
        near = lookup_candidates(y, target, setup.profile.designer.n_designs)
        look = np.mean(np.abs(y[near] - target) / target)
        res, wall = setup.design_with({}, target)
        out.append({"target": target, "mean": 100 * float(res.rep.mean()),
                    "max": 100 * float(res.rep.max()), "lookup": 100 * float(look),
                    "simulations": int(res.n_simulations), "wall_s": wall})
    return out


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", required=True)
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--dataset", default="data-i")
    parser.add_argument("--targets", type=float, nargs="+",
                        default=designer_setup.DEV_TARGETS)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--json", help=argparse.SUPPRESS)  # the subprocess writes here
    args = parser.parse_args()
    if args.json:  # inside the subprocess: run the designs, write them, stop
        rows = run_designs(args.profile, args.dataset, args.targets, args.n_jobs)
        Path(args.json).write_text(json.dumps(rows))
        return

    with tempfile.TemporaryDirectory() as tmp:
        tree, out = Path(tmp) / "tree", Path(tmp) / "rows.json"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                        args.commit], check=True, capture_output=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree),
                   "INVDES_ARTIFACTS": os.environ.get("INVDES_ARTIFACTS",
                                                      str(ROOT / "artifacts"))}
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--commit",
                            args.commit, "--profile", args.profile, "--dataset", args.dataset,
                            "--n-jobs", str(args.n_jobs), "--json", str(out), "--targets",
                            *map(str, args.targets)], check=True, env=env)
            baseline = json.loads(out.read_text())
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)
    current = run_designs(args.profile, args.dataset, args.targets, args.n_jobs)
    print(f"profile {args.profile}, {args.dataset}: commit {args.commit} (baseline) against "
          "the working tree; REP in %")
    for old, new in zip(baseline, current, strict=True):
        print(f"{new['target']:.3f}: look-up mean {new['lookup']:.4f}; commit mean "
              f"{old['mean']:.4f} max {old['max']:.4f} ({old['wall_s']:.0f} s); tree mean "
              f"{new['mean']:.4f} max {new['max']:.4f} ({new['wall_s']:.0f} s); mean ratio "
              f"{new['mean'] / old['mean']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
