"""Teacher soft labels: the best teacher we have, measured on the validation split, on every photo.

The teachers themselves (members, flip averaging, a photo's map) are `modelbuild.teachers`, which the
benchmark's reference contender shares. Labels are cached as 8-bit PNG per teacher, so a label on
disk is always complete and a stopped run resumes where it was. Beside each label, the digest of the
photo it was made from (`digest_path`), so a photo copied afresh with the same bytes keeps its label.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from modelbuild.photos import decode_photo, read_photo
from modelbuild.teachers import Labeller, Member, Teacher, combine, member_map

from .progress import Progress
from .split import folder_key, is_outside_data


def label_path(labels_dir: Path, image: Path) -> Path:
    """The cached label of `image`: <labels_dir>/<folder key>/<stem>.png (folder key: `split.folder_key`)."""
    return labels_dir / folder_key(image.parent.parent) / f"{image.stem}.png"


def digest_path(label: Path) -> Path:
    """The sha256 of the photo `label` was made from, in a file of its own beside it (<stem>.sha256):
    written after its label and removed before the label is replaced, each file whole (renamed into
    place), so a stop at any point leaves a digest that is either the label's own or none, and none
    costs a label made again. One file per folder would be rewritten for every label, with a stop
    able to leave it behind its labels."""
    return label.with_suffix(".sha256")


SOURCE_MARKER = "source.txt"  # in a label folder of a folder outside the data root: that folder's path


def make_labels(images: Sequence[Path], teacher: Teacher, labels_dir: Path, threads: int = 0) -> int:
    """Label every image that has no cached label yet, or one of other bytes than its photo now
    (replaced under its name: `_fresh`); returns how many were made (resumable). ValueError when the
    labels of another folder of the same name are cached where these would go."""
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
        data = image.read_bytes()  # labelled and digested alike
        digest_path(target).unlink(missing_ok=True)  # the old photo's digest never stands beside the new label
        temporary = target.with_suffix(".tmp.png")
        cv2.imwrite(str(temporary), labeller.label(decode_photo(data, image)))
        temporary.replace(target)  # a label on disk is always complete
        _record_digest(target, _digest(data))
        progress.step()
    progress.done()
    return len(todo)


def _fresh(label: Path, photo: Path) -> bool:
    """Whether the label is of the photo as it is now. Made after the photo was last written or put in
    place, it is, without reading the photo (a photo replaced under its name by `mv`, `cp -p` or
    `rsync -a` keeps an older mtime, but its ctime is the moment it was put there). Older, it is when
    the photo's bytes have the digest recorded with the label (the folder copied afresh), and the label
    is touched so that the next run need not read the photo again; with none recorded, it is not."""
    if not label.is_file():
        return False
    status = photo.stat()
    if label.stat().st_mtime >= max(status.st_mtime, status.st_ctime):
        return True
    recorded = digest_path(label)
    if not recorded.is_file() or recorded.read_text(encoding="ascii").strip() != _digest(photo.read_bytes()):
        return False
    os.utime(label)
    return True


def _digest(data: bytes) -> str:
    """A photo's content digest, as recorded beside its label: sha256, hex."""
    return hashlib.sha256(data).hexdigest()


def _record_digest(label: Path, digest: str) -> None:
    """Write `digest` beside `label` (`digest_path`), whole: renamed into place."""
    temporary = digest_path(label).with_suffix(".sha256.tmp")
    temporary.write_text(digest + "\n", encoding="ascii")
    temporary.replace(digest_path(label))


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
