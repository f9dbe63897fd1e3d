"""Teacher soft labels: U²-Net (fp32, 176 MB) on every training photo, cached as 8-bit PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from engine.model import model_input
from modelbuild.evaluate import minmax
from modelbuild.photos import MEAN, STD

from .progress import Progress

TEACHER_SIZE = (320, 320)


def label_path(labels_dir: Path, image: Path) -> Path:
    """The cached label of `image`: <labels_dir>/<image's folder's parent name>/<stem>.png."""
    return labels_dir / image.parent.parent.name / f"{image.stem}.png"


def teacher_map(session: ort.InferenceSession, bgr: np.ndarray) -> np.ndarray:
    """The teacher's fused map, min-max normalised as the engine does, at the photo's size, uint8."""
    inputs = {session.get_inputs()[0].name: model_input(bgr, TEACHER_SIZE, MEAN, STD)}
    pred = minmax(session.run([session.get_outputs()[0].name], inputs)[0][0, 0])
    full = cv2.resize(pred, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(full * 255 + 0.5, 0, 255).astype(np.uint8)


def make_labels(images: Sequence[Path], teacher: Path, labels_dir: Path, threads: int = 0) -> int:
    """Label every image that has no cached label yet; returns how many were made (resumable)."""
    todo = [p for p in images if not label_path(labels_dir, p).is_file()]
    if not todo:
        return 0
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(teacher), options, providers=["CPUExecutionProvider"])
    progress = Progress("teacher labels", len(todo))
    for image in todo:
        bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read {image}")
        target = label_path(labels_dir, image)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp.png")
        cv2.imwrite(str(temporary), teacher_map(session, bgr))
        temporary.replace(target)  # a label on disk is always complete
        progress.step()
    progress.done()
    return len(todo)
