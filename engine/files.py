"""The command line's files: which images the inputs hold, where each cut-out goes, how it is written.

Invariants (tests/unit/test_cli.py has one test each):
- a cut-out never replaces an input, and no two inputs share an output: a name that would clash
  keeps the input's extension (`a.jpg.png`, `a.png.png`), then gains a number (`a.jpg.2.png`);
- an output folder inside an input folder is not searched, so outputs are never read back;
- an output appears whole or not at all (written to a temporary name, then renamed), so a 0-byte
  or half-written file is never taken for a finished one;
- a file that looks like an image but cannot be read as one (a FIFO, a dangling link, a folder
  that cannot be listed, a format we do not read such as JPEG XL) is reported, never passed over.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .decode import INPUT_SUFFIXES, READABLE, UNREADABLE_SUFFIXES


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass(frozen=True)
class Unreadable:
    """A file the inputs hold that looks like an image and cannot be read as one."""

    path: Path
    reason: str


@dataclass
class Found:
    images: list[tuple[Path, Path]]  # (file, its path relative to the input it came from)
    unreadable: list[Unreadable]


def find_images(inputs: Sequence[Path], skip: Path | None = None) -> Found:
    """The images of the inputs (files, and folders searched recursively, except `skip` and what is
    under it), in order; FileNotFoundError for an input that is neither a file nor a folder."""
    found = Found([], [])
    for item in inputs:
        if item.is_dir():
            _walk(item, skip.resolve() if skip else None, found)
        elif item.is_file():
            found.images.append((item, Path(item.name)))
        else:
            what = "a dangling link" if item.is_symlink() else "not a file or folder" if item.exists() else "missing"
            raise FileNotFoundError(f"{item} is {what}")
    return found


def _walk(folder: Path, skip: Path | None, found: Found) -> None:
    def unlistable(error: OSError) -> None:
        found.unreadable.append(Unreadable(Path(str(error.filename)), f"folder cannot be read: {error.strerror}"))

    images = []
    for top, folders, names in os.walk(folder, onerror=unlistable):
        here = Path(top)
        links = [name for name in folders if (here / name).is_symlink()]
        found.unreadable += [Unreadable(here / name, "a link to a folder (not followed)") for name in links]
        folders[:] = [n for n in folders if n not in links and (here / n).resolve() != skip]  # prunes the walk
        for name in names:
            path = here / name
            problem = _problem(path)
            if problem:
                found.unreadable.append(Unreadable(path, problem))
            elif path.suffix.lower() in INPUT_SUFFIXES:
                images.append(path)
    found.images += [(path, path.relative_to(folder)) for path in sorted(images)]


def _problem(path: Path) -> str | None:
    """Why a file that looks like an image cannot be read as one, or None."""
    suffix = path.suffix.lower()
    if suffix in UNREADABLE_SUFFIXES:
        return f"{suffix} images are not read ({READABLE} are)"
    if suffix not in INPUT_SUFFIXES:
        return None
    if path.is_symlink() and not path.exists():
        return "a dangling link"
    if not path.is_file():
        return "not a regular file (a FIFO, socket or device)"
    return None


def plan_jobs(images: Sequence[tuple[Path, Path]], out_dir: Path, suffix: str) -> list[Job]:
    """Map each input to `<out>/<relative path>` with the output format's `suffix` in place of its
    own, keeping the invariants of the module docstring."""
    inputs = {source.resolve() for source, _ in images}
    plain = [out_dir / rel.with_suffix(suffix) for _, rel in images]
    shared = Counter(plain)
    taken: set[Path] = set()
    jobs = []
    for (source, rel), target in zip(images, plain, strict=True):
        if shared[target] > 1 or target.resolve() in inputs:
            target = out_dir / rel.with_name(rel.name + suffix)
        number = 2
        while target in taken or target.resolve() in inputs:
            target = out_dir / rel.with_name(f"{rel.name}.{number}{suffix}")
            number += 1
        taken.add(target)
        jobs.append(Job(source, target))
    return jobs


def write_whole(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def is_done(target: Path) -> bool:
    """Whether an earlier run finished this output (a file with content)."""
    try:
        return target.is_file() and target.stat().st_size > 0
    except OSError:
        return False


def check_out_dir(out_dir: Path, inputs: Sequence[Path]) -> None:
    """Refuse (ValueError, with what to do) an output folder that is an input folder, that cannot be
    created or that cannot be written; create it otherwise."""
    resolved = out_dir.resolve()
    if any(item.is_dir() and item.resolve() == resolved for item in inputs):
        raise ValueError(
            f"--out {out_dir} is an input folder: its cut-outs would replace and mix with the photos; "
            f"choose another folder, such as {out_dir / 'cutouts'}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out {out_dir} cannot be written: {exc.strerror or exc}") from None
