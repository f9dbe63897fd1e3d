"""What `pip install .` declares admits exactly what the requirements files pin (and so what CI tests)."""

from __future__ import annotations

import json
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins() -> dict[str, str]:
    """Every requirement's specifier ("" when unpinned) of every requirements file, by name; a name
    pinned differently in two files fails here."""
    pins: dict[str, str] = {}
    for path in ROOT.glob("**/requirements*.txt"):
        if ".venv" in path.parts or ".cache" in path.parts:
            continue
        for line in path.read_text().splitlines():
            text = line.split("#", 1)[0].strip()
            if text and not text.startswith("-"):
                requirement = Requirement(text)
                assert pins.setdefault(requirement.name, str(requirement.specifier)) == str(requirement.specifier), path
    return pins


def _declared() -> list[Requirement]:
    extras = [text for group in PROJECT["optional-dependencies"].values() for text in group]
    return [Requirement(text) for text in PROJECT["dependencies"] + extras]


def test_every_runtime_dependency_is_pinned_to_its_tested_version() -> None:
    pins = _pins()
    runtime = [Requirement(text) for text in PROJECT["dependencies"]]
    assert runtime and all(str(r.specifier) == pins[r.name] != "" for r in runtime), [
        (r.name, str(r.specifier), pins.get(r.name)) for r in runtime
    ]


def test_no_declared_range_drifts_from_a_requirements_pin() -> None:
    pins = _pins()
    drift = [
        (r.name, str(r.specifier), pins[r.name]) for r in _declared() if r.specifier != pins.get(r.name, r.specifier)
    ]
    assert drift == []


def test_the_import_package_is_bgremove_mapped_from_engine() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"] == ["bgremove"] and setuptools["package-dir"] == {"bgremove": "engine"}
    assert PROJECT["scripts"]["bgremove"] == "bgremove.cli:main"


def test_every_shipped_model_file_is_in_the_package_data() -> None:
    """modnet-int8 shipped in git and in the image, but `pip install .` left its .onnx out: the
    installed `bgremove --list-models` offered a model that could not load."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bgremove"]
    manifests = [json.loads(p.read_text()) for p in (ROOT / "engine" / "models").glob("*.json")]
    shipped = [f"models/{m['file']}" for m in manifests if m.get("shipped")]
    assert shipped and [f for f in shipped if not any(fnmatch(f, p) for p in patterns)] == []


def test_the_installed_package_ships_its_type_hints() -> None:
    """`pip install .` left out py.typed: a user's mypy skipped `import bgremove` ("missing library
    stubs or py.typed marker") and typed remove() and Cutout as Any. PEP 561's marker is in engine/
    and in the package data."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bgremove"]
    assert (ROOT / "engine" / "py.typed").is_file()
    assert any(fnmatch("py.typed", p) for p in patterns)


def test_the_readme_is_the_long_description() -> None:
    """pyproject.toml named no readme: `pip install .` wrote metadata with no long description (an empty
    project page, `importlib.metadata`'s Description missing). README.md is it, as Markdown."""
    assert PROJECT["readme"] == {"file": "README.md", "content-type": "text/markdown"}
    assert (ROOT / "README.md").read_text().startswith("# ")


def test_the_readme_cuts_a_photo_out_within_its_first_40_lines() -> None:
    """A new user reads the README from the top: the command that cuts out their own photo comes within
    40 lines (rembg's README is the model), not after the demo's printed output."""
    lines = (ROOT / "README.md").read_text().splitlines()
    first = next(i for i, line in enumerate(lines, 1) if line.startswith("bgremove photo.jpg"))
    assert first <= 40, f"README.md's first cut-out command is on line {first}"
