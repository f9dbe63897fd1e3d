"""Teacher soft labels: the best teacher we have, measured on the validation split, on every photo.

The teachers themselves (members, flip averaging, a photo's map) are `modelbuild.teachers`, which the
benchmark's reference contender shares. Labels are cached as 8-bit PNG per teacher, so a label on
disk is always complete and a stopped run resumes where it was.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from modelbuild.photos import read_photo
from modelbuild.teachers import Labeller, Member, Teacher, combine, member_map

from .progress import Progress
from .split import folder_key, is_outside_data


def label_path(labels_dir: Path, image: Path) -> Path:
    """The cached label of `image`: <labels_dir>/<folder key>/<stem>.png (folder key: `split.folder_key`)."""
    return labels_dir / folder_key(image.parent.parent) / f"{image.stem}.png"


SOURCE_MARKER = "source.txt"  # in a label folder of a folder outside the data root: that folder's path


def make_labels(images: Sequence[Path], teacher: Teacher, labels_dir: Path, threads: int = 0) -> int:
    """Label every image that has no cached label yet, or one older than its photo (replaced under
    its name); returns how many were made (resumable). ValueError when the labels of another folder
    of the same name are cached where these would go."""
    for folder in dict.fromkeys(p.parent.parent for p in images):
        claim_label_folder(labels_dir, folder)
    todo = [p for p in images if not _fresh(label_path(labels_dir, p), p)]
    if not todo:
        return 0
    labeller = Labeller(teacher, threads)
    progress = Progress(f"teacher labels ({teacher.name})", len(todo))
    for image in todo:
        target = label_path(labels_dir, image)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp.png")
        cv2.imwrite(str(temporary), labeller.label(read_photo(image)))
        temporary.replace(target)  # a label on disk is always complete
        progress.step()
    progress.done()
    return len(todo)


def _fresh(label: Path, photo: Path) -> bool:
    """Whether the label was made after its photo was last written or put in place: a photo replaced
    under its name by `mv`, `cp -p` or `rsync -a` keeps an older mtime, but its ctime is the moment it
    was put there (a chmod costs a label made again, no more)."""
    if not label.is_file():
        return False
    status = photo.stat()
    return label.stat().st_mtime >= max(status.st_mtime, status.st_ctime)


def claim_label_folder(labels_dir: Path, folder: Path) -> None:
    """Labels are cached by `split.folder_key`, which is the folder's own name outside the data
    root: the first folder of a name to be labelled claims it (SOURCE_MARKER), another is refused."""
    if not is_outside_data(folder):
        return
    target = labels_dir / folder_key(folder)
    marker, source = target / SOURCE_MARKER, str(folder.resolve())
    claimed = marker.read_text(encoding="utf-8").strip() if marker.is_file() else source
    if claimed != source:
        raise ValueError(
            f"{target} holds the labels of another folder named {folder.name!r} ({claimed}); rename {folder} "
            f"or remove {target}"
        )
    target.mkdir(parents=True, exist_ok=True)
    marker.write_text(source + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Candidate:
    """A teacher to compare: which members (by index into the labeller's maps) are averaged."""

    name: str
    maps: tuple[int, ...]


def candidates(members: Sequence[str]) -> list[Candidate]:
    """Every non-empty subset of members, each with and without flip: with maps ordered as
    `Labeller(flip=True).maps` gives them (member 0, member 0 mirrored, member 1, ...)."""
    out = []
    for mask in range(1, 2 ** len(members)):
        chosen = [i for i in range(len(members)) if mask >> i & 1]
        name = "+".join(members[i] for i in chosen)
        out.append(Candidate(name, tuple(2 * i for i in chosen)))
        out.append(Candidate(f"{name}-flip", tuple(j for i in chosen for j in (2 * i, 2 * i + 1))))
    return out


def compare(photos: Sequence[tuple[str, Path, Path]], members: tuple[Member, ...]) -> dict[str, dict[str, object]]:
    """Quality of every candidate teacher on labelled photos (group, image, mask): per group and
    overall, MAE and max F-beta at full resolution, and seconds per photo."""
    from bench.metrics import score_image, summarise  # noqa: PLC0415

    labeller = Labeller(Teacher(members, flip=True))
    options = candidates([m.name for m in members])
    scores: dict[str, dict[str, list]] = {c.name: {} for c in options}
    seconds = {m.name: 0.0 for m in members}
    progress = Progress("teacher comparison", len(photos))
    for group, image, mask in photos:
        bgr, truth = read_photo(image), cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        maps = []
        for member, session in labeller.sessions:
            start = time.perf_counter()
            maps.append(member_map(member, session, bgr))
            maps.append(member_map(member, session, np.ascontiguousarray(bgr[:, ::-1]))[:, ::-1])
            seconds[member.name] += (time.perf_counter() - start) / 2
        for c in options:
            score = score_image(combine([maps[i] for i in c.maps], bgr.shape[:2]), truth)
            for key in (group, "all"):
                scores[c.name].setdefault(key, []).append(score)
        progress.step()
    per_photo = {name: s / len(photos) for name, s in seconds.items()}
    table: dict[str, dict[str, object]] = {}
    for c in options:
        used = [members[i // 2] for i in c.maps]
        row: dict[str, object] = {g: summarise(s).as_dict() for g, s in scores[c.name].items()}
        row["seconds_per_photo"] = round(sum(per_photo[m.name] for m in used), 3)
        table[c.name] = row
    return table
