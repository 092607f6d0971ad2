"""Re-execute the book's notebooks in place and save them with their outputs (`make notebooks`).

    python notebooks/execute.py [NOTEBOOK ...]      (default: every notebooks/*.ipynb)

Runs each notebook top to bottom with nbclient in a fresh kernel (working directory: the
notebook's folder, as `jupyter-book build` and nbval run them), in the profile of
``INVDES_PROFILE`` (`make notebooks` sets ``paper``), and writes it back so that a re-run that
shows the same numbers changes nothing in the file:

- cell ids, sources and cell tags stay as they are; execution counts are renumbered 1, 2, ...;
- no per-cell timing metadata (nbclient's ``record_timing`` is off);
- widget state (``metadata.widgets``) is dropped;
- TensorFlow's start-up log lines (absl/C++ lines on stderr, :data:`MACHINE_LOG`: clock time,
  process id, "Could not find cuda drivers on your machine") are dropped: they describe the
  machine, not the book (the sanitizers ignore them, too);
- a stream longer than :data:`MAX_STREAM_LINES` lines keeps its head and tail (a line says how
  many lines were cut): only long warning logs are that long.

``pytest --nbval`` (strict) then compares a fresh execution against these outputs, with the
sanitizers of ``notebooks/nbval_sanitize.cfg``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

#: Longest stream output (lines) kept whole; longer ones keep head and tail.
MAX_STREAM_LINES = 200


#: TensorFlow's start-up log: absl's notice and glog-style lines "I0000 00:00:1796149102.397518
#: 19992 cudart_stub.cc:31] ..." (the same regexes as in nbval_sanitize.cfg).
MACHINE_LOG = re.compile(
    r"(?m)^WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    r"STDERR\n|^[IWEF]\d{4} \d{2}:\d{2}:\d+\.\d+ +\d+ [\w.-]+:\d+\] .*\n?")


#: Seconds a single cell may take (the paper profile only reads artifacts; a minute is plenty,
#: an hour leaves room for a slow or loaded machine).
CELL_TIMEOUT_S = 3600


def trim_stream(text: str, max_lines: int = MAX_STREAM_LINES) -> str:
    """``text`` unchanged if it has at most ``max_lines`` lines, else its first and last
    ``max_lines // 2`` lines around a line that says how many were cut."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= max_lines:
        return text
    half = max_lines // 2
    cut = len(lines) - 2 * half
    return "".join(lines[:half] + [f"[... {cut} lines cut by notebooks/execute.py ...]\n"]
                   + lines[-half:])


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop widget state, timing metadata and TensorFlow's start-up log, renumber execution
    counts, trim long streams (in place)."""
    nb.metadata.pop("widgets", None)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        count += 1
        cell.execution_count = count
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "execute_result":
                out.execution_count = count
            elif out.output_type == "stream":
                if out.name == "stderr":
                    out.text = MACHINE_LOG.sub("", out.text)
                out.text = trim_stream(out.text)
                if not out.text:
                    continue
            outputs.append(out)
        cell.outputs = outputs
    return nb


def execute(path: Path, timeout: int = CELL_TIMEOUT_S) -> float:
    """Execute the notebook at ``path`` in place; returns the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, record_timing=False, allow_errors=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - t0
    nbformat.validate(normalize(nb))
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Command line: execute the named notebooks (default: all of ``notebooks/``) in place."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to execute (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S,
                        help="seconds per cell (default %(default)s)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(here.glob("*.ipynb"))
    total = 0.0
    for path in paths:
        print(f"executing {path} ...", flush=True)
        seconds = execute(Path(path), args.timeout)
        total += seconds
        print(f"  {seconds:.0f} s", flush=True)
    print(f"{len(paths)} notebooks in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
