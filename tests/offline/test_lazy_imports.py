"""Every `from <our package> import name` in our code names something that exists, including the
imports made inside functions (offline tools import training, torch and onnx lazily), which no
import of the module itself runs: a renamed name there breaks a command only when it is next run."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("engine", "handler", "bench", "training", "modelbuild", "studies", "gallery", "reliability", "local")


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) for each `from module import name` of ours in the file (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.module else base
        else:
            module = node.module or ""
        if module.split(".")[0] in OURS:
            found += [(module, alias.name, node.lineno) for alias in node.names if alias.name != "*"]
    return found


SOURCES = sorted(p for top in OURS for p in (ROOT / top).rglob("*.py") if (ROOT / top / "__init__.py").exists())


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_name_imported_from_our_packages_exists(path: Path) -> None:
    missing = []
    for module, name, line in _imports(path):
        target = importlib.import_module(module)
        if not hasattr(target, name):
            try:
                importlib.import_module(f"{module}.{name}")  # a submodule
            except ModuleNotFoundError:
                missing.append(f"line {line}: {name} from {module}")
    assert not missing, missing
