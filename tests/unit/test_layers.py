"""The layers point one way: the source tree is parsed (never imported) and every import checked.

- ``core/`` imports nothing of ours but ``core``;
- no module of ``cloud/`` imports ``dashboard/``;
- nothing outside ``packs/`` and ``compose.py`` imports a particular pack (``edgetwin.packs.<name>``);
  the registry ``edgetwin.packs`` itself (``load_pack``) is for everyone;
- the edge's runtime constructs no particular plugin: it imports no module of ``edge/sources``,
  ``edge/processors`` or ``edge/sinks`` (they come from the pipeline through the registry);
- no metric name, enum label or command of a pack appears as a string in ``core/``, ``edge/``,
  ``cloud/`` or ``dashboard/`` code (docstrings aside): the platform reads the device types.

Imports inside functions count as much as those at the top: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import edgetwin

SRC = Path(edgetwin.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) of every import in ``path``; ``from a import b`` yields both
    ``a`` and ``a.b`` (``b`` may be a module), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _ours(name: str) -> bool:
    return name == "edgetwin" or name.startswith("edgetwin.")


def _is_pack(name: str) -> bool:
    """``edgetwin.packs.<name>`` or below (not the registry ``edgetwin.packs`` itself, nor the
    names it exports, such as ``edgetwin.packs.load_pack``)."""
    parts = name.split(".")
    if len(parts) < 3 or parts[:2] != ["edgetwin", "packs"]:
        return False
    return (SRC / "packs" / parts[2]).is_dir()


def _sources(folder: str = "") -> list[Path]:
    return sorted((SRC / folder).rglob("*.py"))


def _violations(paths: list[Path], bad: object) -> list[str]:
    """``path:line imports module``, once per offending import statement."""
    assert callable(bad)
    found: dict[tuple[Path, int], str] = {}
    for p in paths:
        for line, name in _imports(p):
            if bad(name):
                found.setdefault((p, line), name)
    return [
        f"{p.relative_to(SRC.parent)}:{line} imports {name}" for (p, line), name in found.items()
    ]


def test_the_tree_is_found() -> None:
    names = {_module_name(p) for p in _sources()}
    assert {"edgetwin.core.device", "edgetwin.cloud.app", "edgetwin.compose"} <= names
    assert _is_pack("edgetwin.packs.factory.page")
    assert not _is_pack("edgetwin.packs.load_pack")
    assert not _is_pack("edgetwin.packs")


def test_core_imports_only_core() -> None:
    def bad(name: str) -> bool:
        return _ours(name) and not (name == "edgetwin.core" or name.startswith("edgetwin.core."))

    assert _violations(_sources("core"), bad) == []


def test_security_imports_only_core_and_the_sqlite_base() -> None:
    """Identities sit below the cloud and the edge (both, and the CLI, use them)."""

    def bad(name: str) -> bool:
        allowed = ("edgetwin.core", "edgetwin.security", "edgetwin.sqlite_file")
        return _ours(name) and not any(name == a or name.startswith(f"{a}.") for a in allowed)

    assert _violations(_sources("security"), bad) == []


def test_cloud_never_imports_the_dashboard() -> None:
    def bad(name: str) -> bool:
        return name == "edgetwin.dashboard" or name.startswith("edgetwin.dashboard.")

    assert _violations(_sources("cloud"), bad) == []


def test_only_packs_and_the_composer_import_a_pack() -> None:
    allowed = {"packs", "compose.py"}
    outside = [p for p in _sources() if p.relative_to(SRC).parts[0] not in allowed]
    assert SRC / "cli.py" in outside
    assert SRC / "compose.py" not in outside
    assert _violations(outside, _is_pack) == []


@pytest.mark.parametrize(
    ("source", "module", "bad"),
    [
        ("from edgetwin.dashboard import mount\n", "edgetwin/cloud/x.py", True),
        ("from ..dashboard.frame import frame\n", "edgetwin/cloud/x.py", True),
        ("def f():\n    import edgetwin.dashboard.pages\n", "edgetwin/cloud/x.py", True),
        ("from edgetwin.packs import factory\n", "edgetwin/dashboard/x.py", True),
        ("from edgetwin.packs import load_pack\n", "edgetwin/dashboard/x.py", False),
        ("from edgetwin.cloud.live import LiveHub\n", "edgetwin/dashboard/x.py", False),
    ],
)
def test_the_checker_sees_every_form_of_import(
    tmp_path: Path, source: str, module: str, bad: bool
) -> None:
    """The checks above would pass vacuously if the parser missed a form of import."""
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(source)
    names = [name for _, name in _imports_at(path, tmp_path)]

    def forbidden(name: str) -> bool:
        return name.startswith("edgetwin.dashboard") or _is_pack(name)

    assert any(forbidden(n) for n in names) == bad, names


def _imports_at(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """:func:`_imports` for a file under another root than the installed tree."""
    global SRC
    saved, SRC = SRC, root / "edgetwin"
    try:
        (root / "edgetwin" / "packs" / "factory").mkdir(parents=True, exist_ok=True)
        yield from list(_imports(path))
    finally:
        SRC = saved


def test_the_edge_runtime_constructs_no_particular_plugin() -> None:
    def bad(name: str) -> bool:
        return any(
            name == f"edgetwin.edge.{kind}" or name.startswith(f"edgetwin.edge.{kind}.")
            for kind in ("sources", "processors", "sinks")
        )

    runtime = [
        SRC / "edge" / "runtime.py",
        SRC / "edge" / "pipeline.py",
        SRC / "edge" / "health.py",
    ]
    assert _violations(runtime, bad) == []


def _pack_words() -> set[str]:
    from edgetwin.packs import REGISTRY, load_pack

    words: set[str] = set()
    for name in REGISTRY:
        for t in load_pack(name).device_types:
            words |= {m.name for m in t.metrics} | {c.name for c in t.commands}
            words |= {label for m in t.metrics for label in m.states.values()}
    return words


def _string_constants(path: Path) -> set[str]:
    """String constants of a module, without its docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


# The platform's own vocabulary that a pack happens to use as well: a command's ``state``, the
# edge's ``status`` topic, the ``uptime`` of a restart event, a widget's ``ACTIVE`` badge, and the
# examples of the API's schemas.
# Words the platform uses for its own things (a SQLite setting, a switch's label) that a pack may
# also use as a state label.
PLATFORM_WORDS = frozenset({"state", "status", "uptime", "ACTIVE", "OFF", "ON"})
EXAMPLES = {"cloud/schemas/commands.py", "cloud/schemas/status.py"}


def test_no_pack_metric_state_or_command_is_spelled_by_the_platform() -> None:
    words = _pack_words() - PLATFORM_WORDS
    assert {"temp", "vibration", "REBOOT", "FAULT"} <= words  # the check knows what to look for
    found = {
        str(path.relative_to(SRC)): hits
        for layer in ("core", "edge", "cloud", "dashboard")
        for path in _sources(layer)
        if str(path.relative_to(SRC)) not in EXAMPLES
        and (hits := sorted(_string_constants(path) & words))
    }
    assert found == {}
