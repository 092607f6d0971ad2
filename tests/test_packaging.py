"""Repository infrastructure: pins agree between pyproject.toml and environment.yml, the README
leads with the two commands, the Makefile has them, the license is MIT, the book's table of
contents points at real pages and notebooks are committed without outputs."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==?)\s*([^\s;,#]+)\s*$")
#: Conda entries that are tools of the environment, not dependencies of the package.
CONDA_TOOLS = {"python", "pip", "make"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        m = PIN.match(req)
        if m:
            out[_norm(m.group(1))] = m.group(4)
    return out


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pyproject_pins(pyproject: dict) -> dict[str, str]:
    project = pyproject["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return _pins(reqs)


def _environment_pins(environment: dict) -> tuple[dict[str, str], dict[str, str]]:
    """(pip pins, conda pins) of environment.yml."""
    conda, pip = [], []
    for dep in environment["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
        else:
            conda.append(str(dep))
    conda_pins = {}
    for dep in conda:
        name, _, version = dep.partition("=")
        conda_pins[_norm(name.strip())] = version.lstrip("=").strip()
    return _pins(pip), conda_pins


def test_every_pyproject_requirement_is_pinned(pyproject):
    project = pyproject["project"]
    reqs = list(project["dependencies"]) + [
        r for extra in project.get("optional-dependencies", {}).values() for r in extra
    ]
    unpinned = [r for r in reqs if not PIN.match(r) or "==" not in r]
    assert not unpinned, f"requirements without an exact == pin: {unpinned}"


def test_pins_agree_between_pyproject_and_environment(pyproject, environment):
    py = _pyproject_pins(pyproject)
    pip, conda = _environment_pins(environment)
    env = dict(pip)
    env.update({k: v for k, v in conda.items() if k not in CONDA_TOOLS and v})
    assert py, "no pins found in pyproject.toml"
    missing = sorted(set(py) - set(env))
    extra = sorted(set(env) - set(py))
    different = {k: (py[k], env[k]) for k in set(py) & set(env) if py[k] != env[k]}
    assert not missing, f"pinned in pyproject.toml but not in environment.yml: {missing}"
    assert not extra, f"pinned in environment.yml but not in pyproject.toml: {extra}"
    assert not different, f"versions differ (pyproject, environment): {different}"


def test_environment_python_and_channel(pyproject, environment):
    _, conda = _environment_pins(environment)
    assert conda.get("python") == "3.11"
    assert "conda-forge" in environment["channels"]
    assert ">=3.11" in pyproject["project"]["requires-python"]
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section  # the package itself


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                commands.append(line)
    return commands


def test_readme_starts_with_make_book_then_make_test():
    assert _readme_commands()[:2] == ["make book", "make test"]


@pytest.mark.parametrize("target", ["book", "test", "notebooks", "venv", "clean"])
def test_makefile_has_target(target):
    text = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}\s*:", text, flags=re.M), f"Makefile lacks a '{target}:' target"


def test_license_is_mit(pyproject):
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
    assert "invdes developers" in text
    assert pyproject["project"]["license"]["text"] == "MIT"


def test_ci_script_runs_make_test():
    script = ROOT / ".ci" / "run"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text and "make test" in text
    assert script.stat().st_mode & 0o111, ".ci/run must be executable"


def _toc_files(entries) -> list[str]:
    files = []
    for entry in entries:
        if "file" in entry:
            files.append(entry["file"])
        for key in ("chapters", "sections", "parts"):
            files += _toc_files(entry.get(key, []))
    return files


def test_toc_entries_exist():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book"
    files = [toc["root"]] + _toc_files(toc.get("chapters", []) + toc.get("parts", []))
    missing = [
        f for f in files if not any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb"))
    ]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"


def test_book_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "force"
    assert config["execute"]["allow_errors"] is False
    assert config["execute"]["raise_on_error"] is True
    assert (ROOT / config["bibtex_bibfiles"][0]).exists()
    for pattern in (".venv", "_build", "artifacts", "notes", "tests", "benchmarks", "README.md"):
        assert pattern in config["exclude_patterns"]


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_with_outputs(path):
    """Committed as `make notebooks` writes them: every code cell executed once, in order, with
    no error, no timing metadata, no widget state, no machine log; ids unique; a cell that
    nbval ignores says why in a comment."""
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(code)}: run `make notebooks`")
    errors = [i for i, c in enumerate(code) for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    assert not errors, f"{path.name}: code cells {errors} show an error"
    timed = [i for i, c in enumerate(code) if "execution" in c["metadata"]]
    assert not timed, f"{path.name}: cells {timed} carry timing metadata"
    assert "widgets" not in nb["metadata"], f"{path.name}: widget state is committed"
    stderr = "".join("".join(o["text"]) for c in code for o in c.get("outputs", [])
                     if o["output_type"] == "stream" and o["name"] == "stderr")
    assert "cudart_stub" not in stderr and "absl::InitializeLog" not in stderr
    for c in code:
        if "nbval-ignore-output" in c["metadata"].get("tags", []):
            src = "".join(c["source"])
            assert re.search(r"^#.*nbval", src, flags=re.M), (
                f"{path.name}, cell {c['id']}: tagged nbval-ignore-output without a comment "
                "saying why")
    assert path.stat().st_size < 3_000_000, f"{path.name} is {path.stat().st_size} bytes"
    first = "".join(code[0]["source"])
    assert "get_profile()" in first, f"{path.name}: first code cell must call get_profile()"
    ids = [c.get("id") for c in nb["cells"]]
    missing = [i for i, v in enumerate(ids) if v is None]
    assert not missing, f"{path.name}: cells {missing} lack an id (nbformat 4.5 requires one)"
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate cell ids"


def _sanitize(text: str) -> str:
    from nbval.plugin import get_sanitize_patterns

    cfg = (ROOT / "notebooks" / "nbval_sanitize.cfg").read_text()
    patterns = get_sanitize_patterns(cfg)
    assert len(patterns) >= 7, "nbval_sanitize.cfg lost its patterns"
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize("a, b", [
    ("<pandas.io.formats.style.Styler at 0x7f3a2c1b9e50>",
     "<pandas.io.formats.style.Styler at 0x7fe01c2d3a10>"),
    ("/work/wt-a/invdes/inverse/baselines.py:187: UserWarning: x\n",
     "/home/ci/build/invdes/inverse/baselines.py:187: UserWarning: x\n"),
    ("/usr/lib/python3.11/site-packages/keras/x.py:3: Warning",
     "/opt/venv/lib/python3.11/site-packages/keras/x.py:3: Warning"),
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
     "I0000 00:00:1796149102.397518   19992 cudart_stub.cc:31] Could not find cuda drivers\nok\n",
     "ok\n"),
    ("created 2026-11-30T18:09:39.123+00:00", "created 2026-12-01 09:00:01"),
    ("MDN: 100%|##########| 20/20 [00:02<00:00,  7.21epoch/s]",
     "MDN: 100%|##########| 20/20 [00:03<00:00,  6.10epoch/s]"),
    ("3.3418460462345678", "3.3418460462345111"),
    ('<td class="data row0 col7" >0.47 s</td>', '<td class="data row0 col7" >1.12 s</td>'),
    ('<td class="data row3 col8" >31.2 min</td>', '<td class="data row3 col8" >0.518 ms</td>'),
])
def test_sanitizers_mask_what_varies(a, b):
    assert _sanitize(a) == _sanitize(b)


@pytest.mark.parametrize("a, b", [
    ("mean REP 3.34 %", "mean REP 3.35 %"),
    ('<td class="data row0 col0" >0.19</td>', '<td class="data row0 col0" >0.20</td>'),
    ("3.3418460462", "3.3418460463"),
    ("Data-I: y mean 0.614, std 0.025 (1,430 s)", "Data-I: y mean 0.614, std 0.025 (1,431 s)"),
    ("gen. 9.75 s", "gen. 9.76 s"),
    ('<td class="data row0 col0" >5.53</td>', '<td class="data row0 col0" >5.54</td>'),
    ('<td class="data row0 col0" >no conv.</td>', '<td class="data row0 col0" >1.08</td>'),
])
def test_sanitizers_keep_the_numbers_of_the_book(a, b):
    """A moved number must still fail nbval: the sanitizers may not mask it."""
    assert _sanitize(a) != _sanitize(b)


def test_execute_normalizes_outputs():
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("nb_execute", ROOT / "notebooks" / "execute.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = "".join(f"line {i}\n" for i in range(500))
    cut = mod.trim_stream(text, max_lines=10)
    assert cut.startswith("line 0\n") and cut.endswith("line 499\n") and "490 lines cut" in cut
    assert mod.trim_stream("a\nb\n") == "a\nb\n"
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    log = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
           "STDERR\nI0000 00:00:1796149102.397518   19992 cudart_stub.cc:31] no cuda\n")
    nb.cells = [nbformat.v4.new_code_cell("1", execution_count=7, outputs=[
                    nbformat.v4.new_output("stream", name="stderr", text=log),
                    nbformat.v4.new_output("execute_result", {"text/plain": "1"},
                                           execution_count=7)]),
                nbformat.v4.new_markdown_cell("x"),
                nbformat.v4.new_code_cell("print(2)", execution_count=9, outputs=[
                    nbformat.v4.new_output("stream", name="stderr", text=log + "real\n")])]
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "2026-12-01T00:00:00"}
    mod.normalize(nb)
    assert "widgets" not in nb.metadata and "execution" not in nb.cells[0].metadata
    assert [c.get("execution_count") for c in nb.cells] == [1, None, 2]
    assert [o.output_type for o in nb.cells[0].outputs] == ["execute_result"]
    assert nb.cells[0].outputs[0].execution_count == 1
    assert nb.cells[2].outputs[0].text == "real\n"

