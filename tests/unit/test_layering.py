"""The packages' layering, read from the source (every import statement, inside functions too):

- `engine/` is the pure core: it imports no other package of ours.
- `handler/` adapts AWS events to the engine: it imports only the engine, no offline package.
- `modelbuild/` sits below the offline tools: not `bench/`, `training/` or `studies/`.
- `bench/` is the benchmark: not `training/` (the teacher it runs is `modelbuild.teachers`) or `studies/`.
- `training/` may use the benchmark's measures, never a study; `studies/` may use all of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = sorted(p.parent.name for p in REPO.glob("*/__init__.py") if p.parent.name != "tests")
OFFLINE = {"bench", "gallery", "modelbuild", "reliability", "studies", "training"}
FORBIDDEN = {
    "engine": set(OURS) - {"engine"},
    "handler": OFFLINE | {"local", "infra"},
    "modelbuild": {"bench", "studies", "training", "handler", "local"},
    "bench": {"studies", "training", "handler"},
    "training": {"studies", "handler"},
}


def imported_packages(package: str) -> dict[str, list[str]]:
    """Our top-level packages that `package`'s modules import (absolute imports), each with where."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in OURS and top != package:
                    found.setdefault(top, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package: str) -> None:
    imported = imported_packages(package)
    wrong = {name: where for name, where in imported.items() if name in FORBIDDEN[package]}
    assert not wrong, f"{package}/ imports {wrong}"


def test_the_reader_sees_imports_inside_functions() -> None:
    # bench.contenders imports the teacher lazily, inside a method; training imports bench at the top.
    assert "modelbuild" in imported_packages("bench")
    assert "bench" in imported_packages("training")
    assert {"bench", "training"} <= set(imported_packages("studies"))
    assert set(FORBIDDEN) <= set(OURS)
