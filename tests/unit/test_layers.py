"""The layers of the design's data flow (DESIGN.md), checked on the import graph of src/assay.

Every import counts, wherever it is written (module level, inside a function, under
``TYPE_CHECKING``), and a layer may not reach a forbidden one through others either: the
same rules an import-linter ``forbidden`` contract states, so a function-local import can no
longer hide a cycle such as spec -> run -> spec.
"""

from __future__ import annotations

import ast
import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

SRC = ROOT / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "assay").rglob("*.py"))}


def _parse(path: Path) -> ast.Module:
    """``path``'s tree, parsed with the collector off. CPython 3.11's ast.parse fails with
    "SystemError: AST constructor recursion depth mismatch" when a collection in the middle
    of it finalizes garbage an earlier test left whose ``__del__`` raises (pytest's
    unraisable hook then formats a traceback, and 3.11's traceback parses source lines with
    ast): seen once in CI, with an asyncio subprocess transport of another test."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(path.read_text(), str(path))
    finally:
        if collecting:
            gc.enable()


def _imports(name: str) -> Iterator[tuple[str, int]]:
    """(imported name, line) of every import statement in module ``name``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                full = f"{module}.{alias.name}"
                yield (full if full in MODULES else module), node.lineno


def _graph() -> dict[str, dict[str, int]]:
    """assay module -> {assay module it imports: line}."""
    graph: dict[str, dict[str, int]] = {}
    for name in MODULES:
        edges: dict[str, int] = {}
        for imported, line in _imports(name):
            while imported and imported not in MODULES:  # assay.x.Name -> assay.x
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                edges.setdefault(imported, line)
        graph[name] = edges
    return graph


GRAPH = _graph()


def _inside(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def _chain(start: str, forbidden: tuple[str, ...]) -> list[str] | None:
    """The shortest import chain from ``start`` into a forbidden layer, if any."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        current = queue.pop(0)
        for nxt, line in sorted(GRAPH[current].items()):
            if nxt in paths:
                continue
            paths[nxt] = [*paths[current][:-1], f"{current}:{line}", nxt]
            if any(_inside(nxt, f) for f in forbidden):
                return paths[nxt]
            queue.append(nxt)
    return None


CONTRACTS = [
    # (the layer, the layers it may not import, directly or through others)
    (
        "assay.define",
        ("assay.run", "assay.schedulers", "assay.store", "assay.ui", "assay.cli", "assay.commands"),
    ),
    ("assay.define", ("assay.session",)),
    ("assay.run", ("assay.ui", "assay.cli", "assay.commands", "assay.session")),
    ("assay.schedulers", ("assay.cli", "assay.commands", "assay.ui", "assay.run", "assay.session")),
    (
        "assay.transports",
        ("assay.cli", "assay.commands", "assay.ui", "assay.run", "assay.session", "assay.define"),
    ),
    (
        "assay.store",
        (
            "assay.cli",
            "assay.commands",
            "assay.ui",
            "assay.run",
            "assay.session",
            "assay.schedulers",
        ),
    ),
    ("assay.results", ("assay.cli", "assay.commands", "assay.ui", "assay.run", "assay.session")),
    ("assay.hosts", ("assay.cli", "assay.commands", "assay.ui", "assay.session")),
    (
        "assay.launchers",
        ("assay.cli", "assay.commands", "assay.ui", "assay.run", "assay.session", "assay.define"),
    ),
]


@pytest.mark.parametrize(("layer", "forbidden"), CONTRACTS, ids=[c[0] for c in CONTRACTS])
def test_a_layer_never_imports_the_layers_above_it(layer: str, forbidden: tuple[str, ...]) -> None:
    assert any(_inside(m, layer) for m in MODULES)
    chains = [
        " -> ".join(chain)
        for m in MODULES
        if _inside(m, layer) and (chain := _chain(m, forbidden)) is not None
    ]
    assert chains == []


def test_only_the_cli_imports_the_user_interface() -> None:
    # The command line: assay.cli and its command modules (assay.commands).
    importers = sorted(m for m, edges in GRAPH.items() if "assay.ui" in edges)
    assert importers and all(
        _inside(m, "assay.cli") or _inside(m, "assay.commands") for m in importers
    )


@pytest.mark.parametrize(
    "shipped",
    [
        "assay.compare",
        "assay.schedulers.packrun",
        "assay.transports.hostagent",
        "assay.store.agent",
    ],
)
def test_what_runs_inside_jobs_imports_only_the_standard_library(shipped: str) -> None:
    members = [m for m in MODULES if _inside(m, shipped)]
    assert members
    outside = []
    for member in members:
        for imported, line in _imports(member):
            top = imported.split(".")[0]
            own = _inside(imported, shipped) and shipped != "assay.schedulers.packrun"
            if not own and (top == "assay" or top not in sys.stdlib_module_names):
                outside.append(f"{member}:{line} imports {imported}")
    assert outside == []


def test_the_checks_see_function_local_and_type_checking_imports() -> None:
    # The control for the tests above: imports inside functions and TYPE_CHECKING blocks
    # are edges of the graph (cli imports most of assay inside its commands).
    assert "assay.plan" in GRAPH["assay.listing"]  # under TYPE_CHECKING
    chain = _chain("assay.listing", ("assay.plan",))
    assert chain is not None and chain[0].startswith("assay.listing:") and chain[-1] == "assay.plan"
