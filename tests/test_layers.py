"""Data flows one way: ``graph`` → ``db``, ``mlclient``, ``monitoring``; never back, never across.

Every import statement of every module is read with ``ast`` (lazy imports inside functions
included), so a new import that breaks the layering fails here, whoever writes it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("graph", "db", "mlclient", "monitoring")

# What each lower package may import of ours (itself always).
LOWER: dict[str, set[str]] = {"db": set(), "mlclient": set(), "monitoring": set()}
# Beyond the standard library, the monitoring math uses these only.
MONITORING_THIRD_PARTY = {"numpy", "scipy"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level module) for every import in ``path``; relative imports are ours."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = path.relative_to(ROOT).parts[0]
                yield node.lineno, f"{package}.{node.module or ''}"
            elif node.module is not None:
                yield node.lineno, node.module


def violations(package: str, allowed: set[str]) -> list[str]:
    found = []
    for path in modules(package):
        for line, name in imported(path):
            top = name.split(".")[0]
            if top in OURS and top != package and top not in allowed:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(LOWER))
def test_lower_packages_import_nothing_above_or_beside_them(package: str) -> None:
    assert violations(package, LOWER[package]) == []


def test_monitoring_is_pure_math() -> None:
    """No Strawberry, SQLAlchemy, HTTP or settings: the standard library, numpy and scipy."""
    found = []
    for path in modules("monitoring"):
        for line, name in imported(path):
            top = name.split(".")[0]
            if top == "monitoring" or top in sys.stdlib_module_names:
                continue
            if top not in MONITORING_THIRD_PARTY:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert found == []


def test_only_the_command_line_imports_the_command_line() -> None:
    """graph/cli/ sits on top of the API: nothing else in graph/ may import it."""
    found = []
    for path in modules("graph"):
        if path.relative_to(ROOT).parts[:2] == ("graph", "cli"):
            continue
        for line, name in imported(path):
            if name == "graph.cli" or name.startswith("graph.cli."):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert found == []


def test_the_graphql_core_does_not_import_the_http_routes() -> None:
    """Routes call the core (auth, errors, actuals); only app.py mounts them."""
    found = []
    for path in modules("graph"):
        parts = path.relative_to(ROOT).parts
        if parts[1] in ("routes", "cli", "app.py"):
            continue
        for line, name in imported(path):
            if name.startswith("graph.routes"):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert found == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The walk itself works: an import of graph from db is reported."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from graph.settings import Settings\n")
    assert [name for _, name in imported(module)] == ["graph.settings"]
