"""Real photos as model inputs: a deterministic calibration set and a disjoint held-out set."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from engine.decode import decode_image
from engine.errors import InputError
from engine.model import model_input
from engine.settings import DEFAULT_MAX_MEGAPIXELS

from .paths import PHOTOS, repo_relative

MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, as U²-Net was trained
STD = (0.229, 0.224, 0.225)
SIZE = 320


@dataclass(frozen=True)
class PhotoSplit:
    """Photos sorted by name: every `stride`-th calibrates, the ones right after them check."""

    folder: Path = PHOTOS
    stride: int = 3
    calibration_count: int = 48
    holdout_count: int = 24

    def listing(self) -> list[Path]:
        """Every photo the split draws from, in order."""
        return sorted(p for p in self.folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})

    def _every(self, offset: int, count: int) -> list[Path]:
        return self.listing()[offset :: self.stride][:count]

    def calibration(self) -> list[Path]:
        return self._every(0, self.calibration_count)

    def holdout(self) -> list[Path]:
        return self._every(1, self.holdout_count)

    def record(self, taken: Sequence[Path]) -> dict[str, Any]:
        """Where `taken` (its calibration or held-out photos) came from, as a manifest records it."""
        return {"folder": repo_relative(self.folder), "photos": [p.name for p in taken]}


@dataclass(frozen=True)
class MixedPhotos(PhotoSplit):
    """Photos taken in turn from several lists (one per folder: the first of each, then the second
    of each, ...), so every stride-th one still samples every folder; `folder` is not used."""

    lists: tuple[tuple[Path, ...], ...] = ()

    def listing(self) -> list[Path]:
        longest = max((len(photos) for photos in self.lists), default=0)
        return [photos[i] for i in range(longest) for photos in self.lists if i < len(photos)]

    def record(self, taken: Sequence[Path]) -> dict[str, Any]:
        """The folders drawn from and each taken photo's repository-relative path."""
        folders = sorted({repo_relative(p.parent) for p in self.listing()})
        return {"folders": folders, "photos": [repo_relative(p) for p in taken]}


def read_photo(path: Path) -> np.ndarray:
    """A photo file's pixels (BGR, uint8) exactly as the engine decodes that file for its model
    (`engine.decode`: every input format, HEIC and AVIF included; EXIF orientation; gray and CMYK
    profiles to sRGB; 16-bit, palette; the colours under any transparency), under the engine's
    default megapixel limit. Every photo the offline tools learn from, label, calibrate on or score
    is read here, so that a model is trained and checked on what it is given at inference.
    ValueError naming the file and the engine's reason when it cannot be read."""
    return decode_photo(path.read_bytes(), path)


def decode_photo(data: bytes, path: Path) -> np.ndarray:
    """`read_photo` of the bytes of `path` read already (the teacher digests the very bytes it labels)."""
    try:
        return decode_image(data, DEFAULT_MAX_MEGAPIXELS).bgr
    except InputError as refused:
        raise ValueError(f"cannot read photo {path}: {refused}") from None


def photo_tensor(path: Path, size: int = SIZE, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> np.ndarray:
    """A photo as the engine feeds it (`engine.model.model_input`) to a model of input side `size`."""
    return model_input(read_photo(path), (size, size), mean, std)


class PhotoReader(CalibrationDataReader):
    """Feeds photos, one per batch, to ONNX Runtime's calibration and debugging tools."""

    def __init__(self, input_name: str, tensors: Sequence[np.ndarray]) -> None:
        self.input_name = input_name
        self.tensors = list(tensors)
        self._iter: Iterator[np.ndarray] = iter(self.tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        tensor = next(self._iter, None)
        return None if tensor is None else {self.input_name: tensor}

    def rewind(self) -> None:
        self._iter = iter(self.tensors)
