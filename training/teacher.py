"""Teacher soft labels: the best teacher we have, measured on the validation split, on every photo.

A teacher is one or more member models (U²-Net fp32 at 320, ISNet fp16 at 1024), each optionally
with horizontal-flip test-time augmentation; the members' min-max normalised maps, upsampled to the
photo's size, are averaged. Labels are cached as 8-bit PNG per teacher, so a label on disk is
always complete and a stopped run resumes where it was.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from engine.model import model_input
from modelbuild.evaluate import minmax
from modelbuild.photos import MEAN, STD

from .progress import Progress
from .split import folder_key


@dataclass(frozen=True)
class Member:
    """One teacher network and how it is fed (see `engine.model.model_input`)."""

    name: str
    path: Path
    size: int  # square input side
    mean: tuple[float, float, float] = MEAN
    std: tuple[float, float, float] = STD

    def session(self, threads: int = 0) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # No spin-waiting between operators: labelling runs for an hour beside other work, and
        # spinning threads then burn the cores that the other processes need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class Teacher:
    """Members averaged, each on the photo and (with `flip`) on its mirror image."""

    members: tuple[Member, ...]
    flip: bool = False

    @property
    def name(self) -> str:
        return "+".join(m.name for m in self.members) + ("-flip" if self.flip else "")

    def absent(self) -> list[Path]:
        """The members' weight files that are not installed (`python -m training fetch` makes them)."""
        return [m.path for m in self.members if not m.path.is_file()]


class Labeller:
    """A teacher with its sessions open: photo -> soft label."""

    def __init__(self, teacher: Teacher, threads: int = 0) -> None:
        self.teacher = teacher
        self.sessions = [(m, m.session(threads)) for m in teacher.members]

    def maps(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Every member's map (and mirrored map, flipped back) at its own input size, 0..1 float32."""
        out = []
        for member, session in self.sessions:
            views = [bgr, bgr[:, ::-1]] if self.teacher.flip else [bgr]
            for i, view in enumerate(views):
                pred = member_map(member, session, np.ascontiguousarray(view))
                out.append(pred[:, ::-1] if i else pred)
        return out

    def label(self, bgr: np.ndarray) -> np.ndarray:
        """The teacher's soft label at the photo's size, uint8."""
        return combine(self.maps(bgr), bgr.shape[:2])


def member_map(member: Member, session: ort.InferenceSession, bgr: np.ndarray) -> np.ndarray:
    inputs = {session.get_inputs()[0].name: model_input(bgr, (member.size, member.size), member.mean, member.std)}
    (out,) = session.run([session.get_outputs()[0].name], inputs)
    return minmax(out[0, 0].astype(np.float32))


def combine(maps: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The mean of low-resolution maps, each bilinearly resized to `shape` (height, width), as uint8."""
    height, width = shape
    total = np.zeros((height, width), np.float32)
    for pred in maps:
        total += cv2.resize(np.ascontiguousarray(pred), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(total * (255.0 / len(maps)) + 0.5, 0, 255).astype(np.uint8)


def label_path(labels_dir: Path, image: Path) -> Path:
    """The cached label of `image`: <labels_dir>/<folder key>/<stem>.png (folder key: `split.folder_key`)."""
    return labels_dir / folder_key(image.parent.parent) / f"{image.stem}.png"


def make_labels(images: Sequence[Path], teacher: Teacher, labels_dir: Path, threads: int = 0) -> int:
    """Label every image that has no cached label yet; returns how many were made (resumable)."""
    todo = [p for p in images if not label_path(labels_dir, p).is_file()]
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


def read_photo(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return bgr


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
