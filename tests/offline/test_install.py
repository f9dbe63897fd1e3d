"""`pip install .` as a user runs it, into a fresh virtual environment: the import package `bgremove`
and the `bgremove` command with the engine, its CLI and the shipped models; no top-level `engine`
and nothing of the Lambda handlers.

The fresh environment reaches its dependencies through a .pth file naming this environment's
site-packages (the wheels are the same; no download), and pip builds the project's wheel with
--no-deps --no-build-isolation, so the test takes seconds and needs no network. `pip check` then
proves the wheel's pinned dependencies are exactly the versions installed here, the tested ones.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import venv
from pathlib import Path

import pytest
from PIL import Image

from tests.synthetic import encode, scene

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ("pyproject.toml", "README.md", "engine")  # what the project's build reads


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh environment's bin folder, with the project installed."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    build = tmp_path_factory.mktemp("source")
    for name in SOURCE:  # a copy: pip's in-tree build leaves build/ and *.egg-info beside the sources
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, build / name, ignore=shutil.ignore_patterns("__pycache__", "*.onnx"))
        else:
            shutil.copy(source, build / name)
    for model in (ROOT / "engine" / "models").glob("u2netp*-int8.onnx"):  # the shipped ones (package-data)
        shutil.copy(model, build / "engine" / "models" / model.name)
    wheels = tmp_path_factory.mktemp("wheels")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(build)],
                   check=True, timeout=300)  # fmt: skip
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--quiet", "--no-deps", str(wheel)], check=True, timeout=300)
    return home / "bin"


def _run(bin_dir: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / argv[0]), *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip


def test_bgremove_cuts_out_a_photo_with_the_shipped_model(installed: Path, tmp_path: Path) -> None:
    version = _run(installed, "bgremove", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("bgremove ")
    models = _run(installed, "bgremove", "--list-models", cwd=tmp_path)
    assert "u2netp-distilled-int8 *" in models.stdout and " yes " in models.stdout
    (tmp_path / "a.jpg").write_bytes(encode(scene(240, 180, seed=3)[0]))
    done = _run(installed, "bgremove", "a.jpg", "--out", "cut", "--format", "webp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cut" / "a.webp").read_bytes().startswith(b"RIFF")


def test_the_readmes_python_line_cuts_out_a_photo(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(encode(scene(240, 180, seed=5)[0]))
    line = "import bgremove; open('o.png','wb').write(bgremove.remove(open('photo.jpg','rb').read()))"
    done = _run(installed, "python", "-c", line, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "o.png") as image:
        assert image.format == "PNG" and image.mode == "RGBA" and image.size == (240, 180)
    flat = "bgremove.remove(open('photo.jpg','rb').read(), background='#ffffff', format='jpeg')"
    done = _run(installed, "python", "-c", f"import bgremove; open('w.jpg','wb').write({flat})", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "w.jpg") as image:
        assert image.format == "JPEG" and min(image.getpixel((0, 0))) >= 245  # the corner: background, white


def test_only_bgremove_is_installed_and_the_extras_are_declared(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.metadata as m, importlib.util as u, bgremove; "
        "print(bgremove.__file__); print(u.find_spec('engine')); print(u.find_spec('handler')); "
        "print(sorted(m.metadata('serverless-bg-remover').get_all('Provides-Extra')))"
    )
    result = _run(installed, "python", "-c", probe, cwd=tmp_path)
    location, engine, handler, extras = result.stdout.splitlines()
    assert location.endswith("site-packages/bgremove/__init__.py") and engine == handler == "None"
    assert extras == "['aws', 'dev', 'offline']"


def test_the_declared_dependencies_are_the_installed_tested_versions(installed: Path, tmp_path: Path) -> None:
    check = _run(installed, "python", "-m", "pip", "check", cwd=tmp_path)
    assert "serverless-bg-remover" not in check.stdout, check.stdout


def test_python_m_bgremove_names_itself_as_the_user_typed_it(installed: Path, tmp_path: Path) -> None:
    """`python -m bgremove` is the installed module: its usage, --version and prep's usage name it, not
    the repository's `python -m engine`, which a user's environment does not have."""
    version = _run(installed, "python", "-m", "bgremove", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("python -m bgremove "), version.stdout
    usage = _run(installed, "python", "-m", "bgremove", "prep", "--help", cwd=tmp_path)
    assert usage.stdout.startswith("usage: python -m bgremove prep "), usage.stdout[:80]
    assert "python -m engine" not in usage.stdout


def test_the_installed_metadata_carries_the_readme(installed: Path, tmp_path: Path) -> None:
    """The wheel's METADATA had no long description: the project page and `importlib.metadata` showed
    the one-line summary alone. It is README.md, as Markdown."""
    probe = (
        "import importlib.metadata as m; d = m.metadata('serverless-bg-remover'); "
        "print(d['Description-Content-Type']); print(d.get_payload() or d['Description'] or '')"
    )
    result = _run(installed, "python", "-c", probe, cwd=tmp_path)
    content_type, _, description = result.stdout.partition("\n")
    assert content_type == "text/markdown", result.stdout[:200]
    assert description.strip() == (ROOT / "README.md").read_text().strip()
