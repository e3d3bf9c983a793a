"""The code's shape rules that import contracts cannot see, checked on the source's syntax tree.

`make lint` checks which package may import which (import-linter, pyproject.toml). These tests
check what lies inside the modules: queries only in repositories, pages and API modules that go
through services, and one name for each kind of web module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import leap_connect

PACKAGE = Path(leap_connect.__file__).parent
# Not domain code: the schema's own history and tables, the database helpers, the emulators.
NOT_DOMAIN = {"migrations", "models", "sandbox"}
QUERY_BUILDERS = {"select", "update", "delete", "insert", "text"}
SESSION_QUERIES = {"execute", "get", "scalar", "scalars", "stream"}
WEB_MODULE_NAMES = ("pages", "api")


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] not in NOT_DOMAIN and relative.name != "db.py":
            yield relative.as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def is_web_module(name: str) -> bool:
    stem = Path(name).stem
    return stem.endswith(WEB_MODULE_NAMES) or "/pages/" in f"/{name}"


def queries_outside_repositories(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [
                f"imports {a.name} (l.{node.lineno})"
                for a in node.names
                if a.name in QUERY_BUILDERS
            ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_QUERIES
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("session", "db", "connection")
        ):
            found.append(f"{node.func.value.id}.{node.func.attr}() (l.{node.lineno})")
    return found


def imported_repositories(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.endswith(".repository"):
                found.append(node.module)
            found += [f"{node.module}.repository" for a in node.names if a.name == "repository"]
    return found


def defines_routes(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "fastapi"
        and any(a.name == "APIRouter" for a in node.names)
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize(("name", "tree"), [pytest.param(*m, id=m[0]) for m in modules()])
def test_queries_are_written_only_in_repositories(name: str, tree: ast.Module) -> None:
    if Path(name).name == "repository.py":
        return
    assert queries_outside_repositories(tree) == [], f"{name} builds or runs a query"


@pytest.mark.parametrize(
    ("name", "tree"), [pytest.param(*m, id=m[0]) for m in modules() if is_web_module(m[0])]
)
def test_pages_and_api_modules_go_through_services(name: str, tree: ast.Module) -> None:
    assert imported_repositories(tree) == [], f"{name} calls a repository"


def test_every_module_with_routes_is_named_pages_or_api() -> None:
    # app.py assembles the routers; deps.py holds the dependencies every router uses.
    misnamed = [
        name
        for name, tree in modules()
        if defines_routes(tree) and not is_web_module(name) and name not in ("app.py", "deps.py")
    ]
    assert misnamed == []


def test_the_checks_see_what_they_look_for() -> None:
    # The rules above pass only if nothing matches; make sure they would match.
    tree = ast.parse(
        "from sqlalchemy import select\n"
        "from leap_connect.meters import repository\n"
        "from fastapi import APIRouter\n"
        "async def f(session):\n    await session.get(1)\n"
    )
    assert len(queries_outside_repositories(tree)) == 2
    assert imported_repositories(tree) == ["leap_connect.meters.repository"]
    assert defines_routes(tree)
