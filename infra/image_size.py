"""`make image-size`: what the Lambda image adds to its base, measured without Docker.

Installs requirements.txt the way infra/Dockerfile does (binary wheels only), but for the image's
platform (CPython 3.12, manylinux x86_64, or aarch64 for the Architecture=arm64 image: `--arch
aarch64` fails if any runtime wheel is missing for it), into a temporary folder, lays out engine/, handler/ and
the shipped models beside it as the Dockerfile copies them, and prints the size of each part.
Network: PyPI only (pip download of the wheels).

Usage: python -m infra.image_size [--arch x86_64|aarch64] [--models EXTRA_ID,...] [--keep DIR]
(the shipped models always)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess  # fixed argument lists built here, never a shell  # nosec B404
import sys
import tempfile
from pathlib import Path

from .select_models import main as select_models  # the build stage's own step

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = ("x86_64", "aarch64")  # template.yaml's Architecture x86_64 | arm64


def platform_arguments(arch: str) -> tuple[str, ...]:
    """pip's arguments for the Lambda image's interpreter and platform on `arch`."""
    platforms = (arg for glibc in (34, 28, 17) for arg in ("--platform", f"manylinux_2_{glibc}_{arch}"))
    return (*platforms, "--python-version", "3.12", "--implementation", "cp")


MIB = 1024 * 1024


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def install_requirements(target: Path, arch: str = "x86_64") -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--only-binary=:all:",
        *platform_arguments(arch),
        "--target",
        str(target),
        "-r",
        str(ROOT / "requirements.txt"),
    ]
    subprocess.run(command, check=True)  # noqa: S603  # pip with our own arguments  # nosec B603


def lay_out_code(task_root: Path, extra_models: str) -> None:
    """engine/*.py, the shipped and extra models and handler/, as the Dockerfile's COPY lines place them."""
    (task_root / "engine").mkdir(parents=True)
    for source in (ROOT / "engine").glob("*.py"):
        shutil.copy2(source, task_root / "engine" / source.name)
    select_models([str(ROOT / "engine" / "models"), str(task_root / "engine" / "models"), extra_models])
    shutil.copytree(ROOT / "handler", task_root / "handler", ignore=shutil.ignore_patterns("__pycache__"))


def largest_packages(target: Path, count: int = 8) -> list[tuple[str, int]]:
    sizes = [(p.name, folder_bytes(p)) for p in target.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="", help="model ids baked in beside the shipped ones (Dockerfile ENGINE_MODELS)"
    )
    parser.add_argument("--arch", choices=ARCHITECTURES, default="x86_64", help="the image's CPU (default x86_64)")
    parser.add_argument("--keep", type=Path, help="lay the task root out here instead of a temporary folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="image-size-") as scratch:
        task_root = args.keep or Path(scratch) / "task"
        install_requirements(task_root, args.arch)
        deps = folder_bytes(task_root)
        lay_out_code(task_root, args.models)
        models = folder_bytes(task_root / "engine" / "models")
        baked = sorted(p.stem for p in (task_root / "engine" / "models").glob("*.json"))
        total = folder_bytes(task_root)
        largest = largest_packages(task_root)
    print(f"Lambda image layer ({args.arch}) over public.ecr.aws/lambda/python:3.12 (models: {', '.join(baked)})")
    print(f"  runtime requirements  {deps / MIB:7.1f} MiB")
    print(f"  models                {models / MIB:7.1f} MiB")
    print(f"  engine + handler code {(total - deps - models) / MIB:7.1f} MiB")
    print(f"  total                 {total / MIB:7.1f} MiB")
    print("largest packages (MiB): " + ", ".join(f"{name} {size / MIB:.0f}" for name, size in largest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
