"""The package's layers: every import goes downward, no cycles, no private names across modules.

The import graph of ``invdes`` is built from the source with :mod:`ast` (imports inside
functions included), so a lazy import cannot hide an upward dependency. The checker itself is
tested on small synthetic graphs, so a broken checker cannot pass silently.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "invdes"

#: The layers, bottom first; a module may import its own layer and the ones below.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("invdes", "invdes.config", "invdes.artifacts", "invdes.checks",
                    "invdes.parallel")),
    ("microstructures", ("invdes.microstructure",)),
    ("physics", ("invdes.physics", "invdes.rcwa")),
    ("generative model", ("invdes.gan",)),
    ("data sets", ("invdes.data", "invdes.cluster_tasks", "invdes.cluster_sweeps")),
    ("inverse models", ("invdes.inverse",)),
    ("study", ("invdes.study",)),
    ("product and book", ("invdes.design", "invdes.cli", "invdes.book")),
)


def layer_of(module: str, layers=LAYERS) -> int | None:
    """Index of the layer of ``module``: the longest listed prefix (a package covers its
    submodules; ``"invdes"`` itself only the package's ``__init__``); None when unlisted."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            covers = module == p or (p != "invdes" and module.startswith(p + "."))
            if covers and len(p) > best_len:
                best, best_len = i, len(p)
    return best


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module
    names: tuple[str, ...]  # names taken from it (from-imports and attribute uses)
    line: int


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(source: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = source.split(".") if is_package else source.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(source: str, text: str, modules: set[str], *, is_package: bool = False
               ) -> list[Import]:
    """Every import of an ``invdes`` module in ``text`` (module ``source``), at any depth.

    ``from P import m`` where ``P.m`` is a module counts as an import of ``P.m``; attribute
    uses ``alias.name`` of an imported module are recorded as names taken from it."""
    tree = ast.parse(text)
    out: list[Import] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "invdes":
                    out.append(Import(source, a.name, (), node.lineno))
                    if a.asname:
                        aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(source, is_package, node.level, node.module)
            if target.split(".")[0] != "invdes":
                continue
            plain = []
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in modules:
                    out.append(Import(source, sub, (), node.lineno))
                    aliases[a.asname or a.name] = sub
                else:
                    plain.append(a.name)
            if plain:
                out.append(Import(source, target, tuple(plain), node.lineno))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            out.append(Import(source, aliases[node.value.id], (node.attr,), node.lineno))
    return out


def package_imports(root: Path = PACKAGE_DIR) -> tuple[set[str], list[Import]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    edges = []
    for name, path in files.items():
        edges += imports_of(name, path.read_text(), modules,
                            is_package=path.name == "__init__.py")
    return modules, edges


def find_cycles(modules: set[str], edges: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing
    itself (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        if e.target in graph and e.source != e.target:
            graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def check(modules: set[str], edges: list[Import], layers=LAYERS) -> list[str]:
    """Every violation, one line each: a module without a layer, an import of an unknown
    ``invdes`` module, an upward import, a private name taken from another module, a cycle."""
    problems = []
    for m in sorted(modules):
        if layer_of(m, layers) is None:
            problems.append(f"{m}: no layer assigned (add it to LAYERS)")
    for e in edges:
        if e.target not in modules:
            problems.append(f"{e.source}:{e.line}: imports unknown module {e.target}")
            continue
        ls, lt = layer_of(e.source, layers), layer_of(e.target, layers)
        if ls is not None and lt is not None and lt > ls:
            problems.append(f"{e.source}:{e.line}: upward import of {e.target} "
                            f"({layers[ls][0]} -> {layers[lt][0]})")
        private = [n for n in e.names if n.startswith("_") and not n.startswith("__")]
        if private and e.source != e.target:
            problems.append(f"{e.source}:{e.line}: private name(s) {', '.join(private)} "
                            f"of {e.target}")
    for cycle in find_cycles(modules, edges):
        problems.append("import cycle: " + " -> ".join(cycle))
    return problems


# ------------------------------------------------------------------------------ the package


def test_package_imports_only_downward_without_cycles_or_private_names():
    modules, edges = package_imports()
    assert len(modules) > 20 and len(edges) > 50  # the graph was really built
    assert check(modules, edges) == []


def test_lazy_imports_are_in_the_graph():
    """The study imports the inverse models inside functions; those edges must be seen."""
    _, edges = package_imports()
    assert any(e.source == "invdes.study.pipeline" and e.target == "invdes.inverse.baselines"
               for e in edges)


def test_every_layer_has_a_module_and_modules_stay_small():
    modules, _ = package_imports()
    for i, (name, _) in enumerate(LAYERS):
        assert any(layer_of(m) == i for m in modules), f"layer {name} is empty"
    sizes = {p: len(p.read_text().splitlines()) for p in PACKAGE_DIR.rglob("*.py")}
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] < 900, f"{largest} has {sizes[largest]} lines"


def test_public_rcwa_entry_point_still_works():
    from invdes import rcwa
    from invdes.physics import rcwa as physics_rcwa

    assert rcwa.reflectance_transmittance is physics_rcwa.reflectance_transmittance
    assert rcwa.Layer is physics_rcwa.Layer


# ------------------------------------------------------------------------------ the checker


SYNTHETIC_LAYERS = (("low", ("invdes.low",)), ("high", ("invdes.high",)))


def synthetic(sources: dict[str, str]) -> tuple[set[str], list[Import]]:
    modules = set(sources)
    edges = []
    for name, text in sources.items():
        edges += imports_of(name, text, modules)
    return modules, edges


def test_checker_accepts_a_clean_graph():
    modules, edges = synthetic({
        "invdes.low.a": "import numpy as np\n",
        "invdes.low.b": "from invdes.low.a import thing\n",
        "invdes.high.c": "def f():\n    from invdes.low import b\n    return b.public\n",
    })
    assert check(modules, edges, SYNTHETIC_LAYERS) == []


def test_checker_finds_an_upward_lazy_import():
    modules, edges = synthetic({
        "invdes.low.a": "def f():\n    from invdes.high.c import g\n    return g()\n",
        "invdes.high.c": "def g():\n    return 1\n",
    })
    problems = check(modules, edges, SYNTHETIC_LAYERS)
    assert len(problems) == 1 and "upward import of invdes.high.c (low -> high)" in problems[0]


def test_checker_finds_a_cycle_within_a_layer():
    modules, edges = synthetic({
        "invdes.low.a": "from invdes.low.b import x\n",
        "invdes.low.b": "from invdes.low.c import y\n",
        "invdes.low.c": "from invdes.low import a\n",
    })
    problems = check(modules, edges, SYNTHETIC_LAYERS)
    assert problems == ["import cycle: invdes.low.a -> invdes.low.b -> invdes.low.c"]


@pytest.mark.parametrize("text", [
    "from invdes.low.a import _helper\n",
    "from invdes.low import a\nx = a._helper\n",
    "import invdes.low.a as a\nx = a._helper()\n",
])
def test_checker_finds_a_private_name_from_another_module(text):
    modules, edges = synthetic({"invdes.low.a": "_helper = 1\n", "invdes.high.c": text})
    problems = check(modules, edges, SYNTHETIC_LAYERS)
    assert len(problems) == 1 and "private name(s) _helper of invdes.low.a" in problems[0]


def test_checker_flags_unknown_modules_and_modules_without_a_layer():
    modules, edges = synthetic({"invdes.low.a": "from invdes.gone import x\n",
                                "invdes.elsewhere": "\n"})
    problems = check(modules, edges, SYNTHETIC_LAYERS)
    assert "invdes.elsewhere: no layer assigned (add it to LAYERS)" in problems
    assert any("imports unknown module invdes.gone" in p for p in problems)


def test_relative_imports_are_resolved():
    modules = {"invdes.low.a", "invdes.low.b", "invdes.high.c"}
    edges = imports_of("invdes.low.b", "from .a import x\nfrom ..high import c\n", modules)
    assert {e.target for e in edges} == {"invdes.low.a", "invdes.high.c"}
