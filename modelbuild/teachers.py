"""The distillation teachers: which networks, how each is fed, and a teacher's map of a photo.

A teacher is one or more member models (U²-Net fp32 at 320, ISNet fp32 at 1024), each optionally
with horizontal-flip test-time augmentation; the members' min-max normalised maps, upsampled to the
photo's size, are averaged. The weights are installed by `python -m training fetch`. Here, below
both `training/` (which labels the photos and distils from a teacher) and `bench/` (whose `teacher:`
contender is a reference row), so that the benchmark never imports training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from engine.model import model_input

from .evaluate import minmax
from .paths import SOURCE_MODELS
from .photos import MEAN, STD


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


U2NET = Member("u2net", SOURCE_MODELS / "u2net.onnx", 320)
# ISNet runs widened to fp32 (`modelbuild.graph.widen_to_fp32` of the verified fp16 file; `fetch` makes it)
ISNET = Member("isnet", SOURCE_MODELS / "isnet-fp32.onnx", 1024, mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))
TEACHERS = {  # by name; `python -m training compare-teachers` measures every combination of u2net and isnet
    "u2net": Teacher((U2NET,)),
    "u2net-flip": Teacher((U2NET,), flip=True),
    "isnet": Teacher((ISNET,)),
    "isnet-flip": Teacher((ISNET,), flip=True),
    "u2net+isnet": Teacher((U2NET, ISNET)),
    "u2net+isnet-flip": Teacher((U2NET, ISNET), flip=True),
}
# ISNet alone. On the validation split's labelled photos (`compare-teachers`; mean over train,
# extra/davis, extra/people of MAE / max F-beta) it ranks third of six, close behind ISNet with flip
# averaging (0.0623 / 0.9084 against 0.0621 / 0.9086) and far ahead of U²-Net (0.0633 / 0.8806),
# at half the flip's cost: 1.5 s per photo on 2 cores instead of 2.9 (50 minutes less over the pool).
DEFAULT_TEACHER = "isnet"
