"""docs/architecture.md's file map and docs/reliability.md name what is there: every module of engine/,
handler/ and reliability/ appears in the map under its folder, every file the map names there
exists, and every repository path, `make` target (and its variable) and `python -m` module the two
pages name is real, as are those that README.md, bench/README.md, docs/benchmark.md and docs/edges.md name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
PAGES = (ARCHITECTURE, ROOT / "docs" / "reliability.md")
# Pages whose repository paths, `make` targets and `python -m` modules are checked as well (no file map)
NAMING = (*PAGES, *(ROOT / p for p in ("README.md", "docs/benchmark.md", "docs/edges.md", "bench/README.md")))
MAPPED = ("engine", "handler", "reliability")  # folders whose every module the map names


def map_sections() -> dict[str, str]:
    """The map (the page's first code block) by top-level folder: its lines up to the next one."""
    block = ARCHITECTURE.read_text().split("```")[1]
    sections: dict[str, str] = {}
    folder = ""
    for line in block.splitlines():
        if line and not line[0].isspace():
            folder = line.split()[0].rstrip("/")
            sections[folder] = line.split(None, 1)[1] if " " in line else ""
        elif folder:
            sections[folder] += "\n" + line
    return sections


def named_files(text: str) -> set[str]:
    return set(re.findall(r"\b[\w]+\.(?:py|html)\b", text))


@pytest.mark.parametrize("folder", MAPPED)
def test_every_module_is_named_in_the_map_under_its_folder(folder: str) -> None:
    modules = {p.name for p in (ROOT / folder).glob("*.py") if not p.name.startswith("__")}
    modules |= {p.name for p in (ROOT / folder).glob("*.html")}
    missing = modules - named_files(map_sections()[folder])
    assert not missing, f"{folder}/ modules the map in docs/architecture.md does not name"


@pytest.mark.parametrize("folder", MAPPED)
def test_every_file_the_map_names_under_a_folder_exists(folder: str) -> None:
    stale = {name for name in named_files(map_sections()[folder]) if not (ROOT / folder / name).is_file()}
    assert not stale, f"named under {folder}/ in docs/architecture.md, not there"


def backticked(page: Path) -> list[str]:
    return re.findall(r"`([^`\s]+)`", page.read_text())


@pytest.mark.parametrize("page", NAMING, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_a_page_names_exists(page: Path) -> None:
    paths = [t for t in backticked(page) if re.fullmatch(r"[\w][\w./-]*\.(?:py|yaml|md|json|html|txt)", t)]
    assert paths, "the pattern still finds the page's paths"
    assert [p for p in paths if not (ROOT / p).exists() and not (page.parent / p).exists()] == []  # or beside it


@pytest.mark.parametrize("page", NAMING, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_target_and_variable_a_page_names_is_in_the_makefile(page: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    text = page.read_text()
    targets = set(re.findall(r"\bmake ([a-z][\w-]*)", text))
    variables = set(re.findall(r"\bmake [a-z][\w-]* ([A-Z_]+)=", text))
    assert targets
    assert {t for t in targets if not re.search(rf"^{re.escape(t)}:", makefile, re.M)} == set()
    assert {v for v in variables if not re.search(rf"^{v} \?=|\$\({v}\)", makefile, re.M)} == set()  # set or read


@pytest.mark.parametrize("page", NAMING, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_m_module_a_page_names_exists(page: Path) -> None:
    modules = set(re.findall(r"python -m ([\w.]+\w)", page.read_text()))
    assert modules

    def runnable(module: str) -> bool:
        path = ROOT / module.replace(".", "/")
        return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()

    assert {m for m in modules if not runnable(m)} == set()
