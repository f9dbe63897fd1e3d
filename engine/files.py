"""The command line's files: which images the inputs hold, where each cut-out goes, how it is written.

Invariants (tests/unit/test_cli.py and test_cli_naming.py have one test each):
- one naming rule for batch runs and `--watch`: an output's name depends only on its input's path
  under its root (the folder given, or the folder of a file given) and on that folder's own files:
  `a.jpg` -> `a.png`, the stem kept so captions and labels still pair with it by stem;
- the input's extension is kept (`a.jpg.png`, `a.png.png`) where another image of the same folder
  shares the stem, or where the output would replace the input itself;
- with several roots each root's outputs go under its own name (`day1/IMG_0001.png`), told apart
  by their parents where two roots share a name (`left/photos/…`), whatever the order given;
- an output that would still be shared by two inputs is refused before any work, naming both;
- hidden files and folders (`.DS_Store`, AppleDouble `._photo.jpg`, `.thumbnails/`) are passed over
  in folders; an output folder inside an input folder is not searched, so outputs are never read back;
- an output appears whole or not at all (written to a temporary name, then renamed), so a 0-byte
  or half-written file is never taken for a finished one; the temporary file of a process killed
  mid-write is removed by the run's end (`remove_dead_partials`), that of a live process never;
  `is_done` takes an output only when it is newer than its input, so a changed input is cut out again,
  and made with the options asked for now (below), so a rerun with other flags cuts it out again;
- each output records the options that made it (`Options.recorded_recipe`, the model resolved and
  its weights; the S3 outputs' `options` metadata) as the extended attribute `user.bgremove.options`,
  set on the temporary file before the rename (which keeps it), so a model replaced under its id
  makes its cut-outs again; one recorded by a version before the weights were is made again once.
  Where the filesystem holds none (no os.setxattr: macOS, Windows; ENOTSUP: some tmpfs, FAT,
  network mounts) or refuses it, the output is written without it. An output without it (written
  there, by a version before it, or copied without its attributes: `cp`, `rsync` without `-X`) was
  made by unknown options: it is taken as done, as it was before options were recorded, rather
  than every such output cut out again;
- a file that looks like an image but cannot be read as one (a FIFO, a dangling link, a folder
  that cannot be listed, a format we do not read such as JPEG XL) is reported, never passed over.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .decode import INPUT_SUFFIXES, READABLE, UNREADABLE_SUFFIXES, is_heif, signature_of

NAME_MAX_BYTES = 255  # the longest file name (in bytes) of ext4, XFS, APFS, NTFS (UTF-16 units) and tmpfs
RECIPE_XATTR = "user.bgremove.options"  # the extended attribute an output records its options in


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass(frozen=True)
class Unreadable:
    """A file the inputs hold that looks like an image and cannot be read as one."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Image:
    """An image the inputs hold: the file, its path under its root, and that root."""

    source: Path
    relative: Path
    root: Path


@dataclass
class Found:
    images: list[Image]
    unreadable: list[Unreadable]
    passed_over: Counter[str] = field(default_factory=Counter)  # visible files not named as images (nor an
    # image's sidecar: a.txt beside a.jpg), by suffix


def find_images(inputs: Sequence[Path], skip: Path | None = None) -> Found:
    """The images of the inputs (files, and folders searched recursively, except `skip` and what is
    under it), in order; FileNotFoundError for an input that is neither a file nor a folder."""
    found = Found([], [])
    for item in inputs:
        if item.is_dir():
            _walk(item, skip.resolve() if skip else None, found)
        elif item.is_file():
            found.images.append(Image(item, Path(item.name), item.parent))
        else:
            what = "a dangling link" if item.is_symlink() else "not a file or folder" if item.exists() else "missing"
            raise FileNotFoundError(f"{item} is {what}")
    return _once(found)


def _once(found: Found) -> Found:
    """Each image once, where it was first found: `left left/photos` names left/photos/a.png twice.
    One file under two names (a link `b.jpg` -> `a.jpg`) is two images: each name gets its cut-out."""
    seen: set[Path] = set()
    images = []
    for image in found.images:
        real = image.source.parent.resolve() / image.source.name  # the folder's entry, not what it links to
        if real not in seen:
            seen.add(real)
            images.append(image)
    return Found(images, found.unreadable, found.passed_over)


def _walk(folder: Path, skip: Path | None, found: Found) -> None:
    def unlistable(error: OSError) -> None:
        found.unreadable.append(Unreadable(Path(str(error.filename)), f"folder cannot be read: {error.strerror}"))

    images = []
    for top, folders, names in os.walk(folder, onerror=unlistable):
        here = Path(top)
        links = [name for name in folders if (here / name).is_symlink()]
        found.unreadable += [Unreadable(here / name, "a link to a folder (not followed)") for name in links]
        kept = [n for n in folders if n not in links and not _hidden(n) and (here / n).resolve() != skip]
        folders[:] = kept  # prunes the walk
        here_images, others = [], []
        for name in names:
            if _hidden(name):
                continue
            path = here / name
            problem = _problem(path)
            if problem:
                found.unreadable.append(Unreadable(path, problem))
            elif path.suffix.lower() in INPUT_SUFFIXES:
                here_images.append(path)
            else:
                others.append(path)
        images += here_images
        stems = {path.stem for path in here_images}
        found.passed_over.update(path.suffix.lower() for path in others if path.stem not in stems)  # not captions
    found.images += [Image(path, path.relative_to(folder), folder) for path in sorted(images)]


def _hidden(name: str) -> bool:
    """A hidden file or folder: `.DS_Store`, AppleDouble `._photo.jpg`, an uploader's `.x.partial`."""
    return name.startswith(".")


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


class OutputClash(ValueError):
    """Two inputs would be written to the same output."""


Stems = dict[Path, Counter[str]]  # each folder's visible images by stem, listed once per plan


def target_of(image: Image, out_dir: Path, suffix: str, label: Path = Path(), stems: Stems | None = None) -> Path:
    """Where `image`'s cut-out goes: `<out>/<label>/<relative path>` with the output format's
    `suffix` in place of the input's own, or after it where the stem is shared (module docstring)."""
    plain = out_dir / label / image.relative.with_suffix(suffix)
    if _shares_stem(image.source, {} if stems is None else stems) or plain.resolve() == image.source.resolve():
        return out_dir / label / image.relative.with_name(image.relative.name + suffix)
    return plain


def _shares_stem(source: Path, stems: Stems) -> bool:
    """Whether another visible image of the source's folder has the source's stem."""
    folder = source.parent.resolve()
    if folder not in stems:
        try:
            names = [entry.name for entry in os.scandir(folder) if not _hidden(entry.name)]
        except OSError:
            names = []
        stems[folder] = Counter(Path(n).stem for n in names if Path(n).suffix.lower() in INPUT_SUFFIXES)
    itself = not _hidden(source.name) and source.suffix.lower() in INPUT_SUFFIXES
    return stems[folder][source.stem] > int(itself)


def root_labels(roots: Sequence[Path]) -> dict[Path, Path]:
    """Each root's subfolder in the output: none for a single root; otherwise its name, or as many
    of its last path parts as tell it from the others (`left/photos`, `right/photos`)."""
    unique = list(dict.fromkeys(root.resolve() for root in roots))
    if len(unique) < 2:
        return {root: Path() for root in unique}
    parts = {root: root.relative_to(root.anchor).parts or ("root",) for root in unique}
    depth = 1  # the whole paths always tell resolved roots apart, so this ends
    while len({Path(*parts[root][-depth:]) for root in unique}) < len(unique):
        depth += 1
    return {root: Path(*parts[root][-depth:]) for root in unique}


def plan_jobs(images: Sequence[Image], out_dir: Path, suffix: str) -> list[Job]:
    """Map each input to its output (the naming rule of the module docstring); OutputClash when two
    inputs would share an output or an output would replace another input."""
    labels = root_labels([image.root for image in images])
    stems: Stems = {}
    jobs = [Job(i.source, target_of(i, out_dir, suffix, labels[i.root.resolve()], stems)) for i in images]
    sources = {job.source.resolve(): job.source for job in jobs}
    taken: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        other = taken.setdefault(target, job.source)
        if other != job.source or (target in sources and sources[target] != job.source):
            clash = sources.get(target, other)
            raise OutputClash(f"{job.source} and {clash} would both be written to {job.target}: rename one of them")
    return jobs


def write_whole(target: Path, data: bytes, recipe: str | None = None) -> None:
    """Write `data` to a temporary file beside `target`, record `recipe` on it (`record_recipe`),
    then rename it into place: the output appears with its options or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(partial_name(target.name, os.getpid()))
    try:
        partial.write_bytes(data)
        if recipe is not None:
            record_recipe(partial, recipe)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def record_recipe(path: Path, recipe: str) -> None:
    """Record the options that made the file at `path` as its RECIPE_XATTR; nothing where the
    filesystem holds no extended attributes or refuses this one (the file is fine without it)."""
    setxattr = getattr(os, "setxattr", None)  # Linux only
    if setxattr is None:
        return
    try:
        setxattr(path, RECIPE_XATTR, recipe.encode())
    except OSError:  # ENOTSUP: no user attributes there; ENOSPC, E2BIG: no room for this one
        pass


def read_recipe(path: Path) -> str | None:
    """The options the file at `path` records having been made with, or None where it records
    none (or the filesystem holds no extended attributes)."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return None
    try:
        value: bytes = getxattr(path, RECIPE_XATTR)
    except OSError:  # ENODATA: not recorded; ENOTSUP: no attributes there
        return None
    return value.decode("utf-8", "replace")


def partial_name(name: str, pid: int) -> str:
    """The hidden temporary name an output is written under: `.<name>.<pid>.partial`, with `name`
    cut (on a character) so that the whole fits NAME_MAX_BYTES, as `name` itself does."""
    tail = f".{pid}.partial"
    room = NAME_MAX_BYTES - len(tail.encode()) - 1
    kept = name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return f".{kept}{tail}"


def remove_dead_partials(targets: Iterable[Path]) -> None:
    """Remove the temporary files (`partial_name`) of `targets` that processes now gone left behind
    (a worker killed mid-write, an earlier run killed): never one whose process is alive (another
    run writing the same folder), nor any other file. Process ids are this machine's; POSIX only."""
    folders: dict[Path, set[str]] = {}
    for target in targets:
        folders.setdefault(target.parent, set()).add(target.name)
    for folder, names in folders.items() if os.name == "posix" else ():
        try:
            entries = [entry.name for entry in os.scandir(folder) if entry.name.endswith(".partial")]
        except OSError:
            continue
        for entry in entries:
            pid = _partial_pid(entry, names)
            if pid is not None and not _alive(pid):
                (folder / entry).unlink(missing_ok=True)


def _partial_pid(entry: str, names: set[str]) -> int | None:
    """The process id in `entry` where it is the temporary name (`partial_name`, which may cut the
    name short) of one of `names`, else None."""
    pid = entry.removesuffix(".partial").rpartition(".")[2]
    if not (pid.isascii() and pid.isdigit()) or int(pid) == 0:
        return None
    return int(pid) if any(entry == partial_name(name, int(pid)) for name in names) else None


def _alive(pid: int) -> bool:
    """Whether a process of this id runs (one of another user's included)."""
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def is_done(job: Job, recipe: str | None = None) -> bool:
    """Whether an earlier run made this output from the input as it is now: a file with content,
    written after the input's last change, with the options and model weights `recipe` names
    (`Options.recorded_recipe`; None: whatever they were). An output that records no options was
    made by unknown ones: it is taken as done (module docstring)."""
    try:
        made = job.target.stat()
        fresh = job.target.is_file() and made.st_size > 0 and made.st_mtime_ns >= job.source.stat().st_mtime_ns
    except OSError:
        return False
    if not fresh or recipe is None:
        return fresh
    recorded = read_recipe(job.target)
    return recorded is None or recorded == recipe


def check_not_a_photo(flag: str, path: Path, what: str, ours: Callable[[Path], bool] = lambda _: False) -> None:
    """Refuse (ValueError) a `flag` file that is a folder, or an image it would replace (unless
    `ours` says an earlier run wrote it): a glob such as photos/*.jpg right after the flag gives it
    the first photo."""
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder: name the {what}'s file")
    if is_image_file(path) and not ours(path):
        raise ValueError(
            f"{flag} {path} is an image, which the {what} would replace: name the {what}'s own file "
            f"(a glob such as photos/*.jpg right after {flag} gives it the first photo)"
        )


def is_image_file(path: Path) -> bool:
    """Whether `path` is a file named as an image (one we read or one we list: raw, PSD, JPEG XL) or
    holding one: a photo a report or a sheet must never replace (`--report photos/*.jpg`)."""
    if not path.is_file():
        return False
    if path.suffix.lower() in INPUT_SUFFIXES + UNREADABLE_SUFFIXES:
        return True
    try:
        with path.open("rb") as file:
            head = file.read(64)
    except OSError:
        return False
    return signature_of(head) is not None or is_heif(head)


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
