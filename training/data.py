"""Training samples: photo, optional ground-truth mask and teacher label, with augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.model import model_input
from modelbuild.photos import MEAN, STD

from .teacher import label_path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@dataclass(frozen=True)
class Example:
    image: Path
    truth: Path | None  # ground-truth mask (same stem), None for unlabelled photos
    teacher: Path  # cached teacher soft label


def find_examples(folder: Path, labels_dir: Path) -> list[Example]:
    """`folder/images/*` with `folder/masks/<stem>.png` where present (a folder without masks/
    is unlabelled: the teacher's labels alone)."""
    images = sorted(p for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no images in {folder / 'images'}")
    masks = folder / "masks"
    examples = []
    for image in images:
        truth = masks / f"{image.stem}.png"
        examples.append(Example(image, truth if truth.is_file() else None, label_path(labels_dir, image)))
    return examples


@dataclass(frozen=True)
class Augment:
    """Random scale/crop (keeping `min_area` of the photo at least), horizontal flip, colour jitter."""

    min_area: float = 0.55
    max_aspect_change: float = 1.25
    jitter: float = 0.2  # brightness, contrast and saturation factors in 1 +- jitter

    def crop_box(self, rng: np.random.Generator, height: int, width: int) -> tuple[int, int, int, int]:
        area = rng.uniform(self.min_area, 1.0)
        aspect = np.exp(rng.uniform(-np.log(self.max_aspect_change), np.log(self.max_aspect_change)))
        w = int(round(min(width, width * np.sqrt(area * aspect))))
        h = int(round(min(height, height * np.sqrt(area / aspect))))
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        return x0, y0, x0 + w, y0 + h

    def colour(self, rng: np.random.Generator, bgr: np.ndarray) -> np.ndarray:
        f = bgr.astype(np.float32)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)[:, :, None]
        saturation, contrast, brightness = (1 + rng.uniform(-self.jitter, self.jitter, 3)).tolist()
        f = gray + (f - gray) * saturation
        f = (f - gray.mean()) * contrast + gray.mean()
        return np.clip(f * brightness, 0, 255).astype(np.uint8)


def read_gray(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"cannot read mask {path}")
    return mask


def load_example(
    example: Example, size: int, rng: np.random.Generator | None, augment: Augment = Augment()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(input 3xSxS, teacher 1xSxS, truth 1xSxS, has_truth) as float32; no augmentation when rng is None."""
    bgr = cv2.imread(str(example.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {example.image}")
    teacher = read_gray(example.teacher)
    truth = read_gray(example.truth) if example.truth else np.zeros_like(teacher)
    if truth.shape != bgr.shape[:2] or teacher.shape != bgr.shape[:2]:
        raise ValueError(f"{example.image}: mask size differs from the photo's")
    if rng is not None:
        x0, y0, x1, y1 = augment.crop_box(rng, *bgr.shape[:2])
        bgr, teacher, truth = (a[y0:y1, x0:x1] for a in (bgr, teacher, truth))
        if rng.random() < 0.5:
            bgr, teacher, truth = (a[:, ::-1] for a in (bgr, teacher, truth))
        bgr = augment.colour(rng, np.ascontiguousarray(bgr))
    tensor = model_input(np.ascontiguousarray(bgr), (size, size), MEAN, STD)[0]
    maps = [cv2.resize(np.ascontiguousarray(a), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)[None] / 255
            for a in (teacher, truth)]
    return tensor, maps[0], maps[1], float(example.truth is not None)


def batch(examples: Sequence[Example], size: int, rng: np.random.Generator | None) -> tuple[np.ndarray, ...]:
    items = [load_example(e, size, rng) for e in examples]
    return tuple(np.stack([item[i] for item in items]).astype(np.float32) for i in range(4))
