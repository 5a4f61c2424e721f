"""The house plan (docs/architecture.md), held by reading every import in server/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SERVER = PROJECT_ROOT / "server"
# The layers, lowest first. A module may import its own layer and those below, never above.
WIRING = ("server.app", "server.resources", "server.cli", "server.entry", "server.__main__")
CONSOLE_WEB = (
    "server.console",
    "server.console.api",
    "server.console.feed",
    "server.console.guard",
    "server.console.keys",
    "server.console.routes",
    "server.console.startup",
    "server.console.state",
    "server.console.views",
)
# Each database driver, and the storage modules that may import it: SQLite's in db.py;
# PostgreSQL's in postgresql.py and in the change feed, its LISTEN connection.
DRIVERS = {
    "sqlite3": {"server.db"},
    "aiosqlite": {"server.db"},
    "asyncpg": {"server.postgresql", "server.change_feed"},
}


def layer(module: str) -> int:
    if module in WIRING or module.endswith(".commands"):
        return 3
    if _within(module, ("server.web", *CONSOLE_WEB)):
        return 2
    return 1


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def modules() -> dict[str, Path]:
    found = {}
    for path in SERVER.rglob("*.py"):
        if path.is_symlink() or any(p.is_symlink() for p in path.parents):
            continue
        parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of ours (or driver) that `module` imports, at any depth of its code."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] in DRIVERS:
                targets.add(name.split(".")[0])
                continue
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                targets.add(name)
    return targets


GRAPH = {module: imports(module, path, modules()) for module, path in modules().items()}


def test_the_import_walk_sees_the_whole_package() -> None:
    assert {"server.app", "server.web.keys", "server.payments", "server.sandbox.app"} <= set(GRAPH)
    assert "server.web.keys" in GRAPH["server.web.views.shop"]


def test_no_module_reaches_back_to_one_that_imports_it() -> None:
    circles: list[str] = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in GRAPH.get(module, ()):
            if target not in GRAPH:
                continue
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert circles == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if not m.startswith("server.sandbox")))
def test_nothing_imports_a_higher_layer(module: str) -> None:
    upward = {
        target
        for target in GRAPH[module]
        if target.startswith("server.")
        and not target.startswith("server.sandbox")
        and layer(target) > layer(module)
    }
    assert upward == set(), f"{module} (layer {layer(module)}) imports {sorted(upward)}"


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_each_database_driver_is_imported_by_its_storage_module_only(driver: str) -> None:
    users = {m for m, targets in GRAPH.items() if driver in targets}
    assert {m for m in users if not m.startswith("server.sandbox")} <= DRIVERS[driver]


def test_the_sandbox_and_paydesk_meet_only_over_http() -> None:
    sandbox_reaches_out = {
        (m, t)
        for m, targets in GRAPH.items()
        if m.startswith("server.sandbox")
        for t in targets
        if t.startswith("server.") and not t.startswith("server.sandbox")
    }
    assert sandbox_reaches_out == set()
    mounting = {
        m
        for m, targets in GRAPH.items()
        if not m.startswith("server.sandbox")
        and any(t.startswith("server.sandbox") for t in targets)
    }
    assert mounting <= {"server.app", "server.cli"}  # mounting it in-process, or running it alone
