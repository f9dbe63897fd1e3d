"""The benchmark's inputs: labelled dev sets found on disk and the resized speed photos."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from modelbuild.paths import DATA

ROOT = Path(__file__).resolve().parent.parent
DEV_DIR = DATA / "dev"
MATTING_DIR = DATA / "matting"  # photos with true alpha mattes: images/ and alphas/
SPEED_SOURCE = DEV_DIR / "horse" / "images" / "horse087.jpg"
SPEED_SIZES: dict[str, tuple[int, int]] = {"2MP": (1634, 1224), "12MP": (4001, 2999)}
SPEED_JPEG_QUALITY = 90


@dataclass(frozen=True)
class Sample:
    """One labelled image: the photo file and its ground-truth mask file (same stem)."""

    stem: str
    image: Path
    mask: Path

    def image_bytes(self) -> bytes:
        return self.image.read_bytes()

    def truth(self) -> np.ndarray:
        """The ground-truth mask as 8-bit gray at full resolution."""
        with Image.open(self.mask) as mask:
            return np.asarray(mask.convert("L"))


def discover_sets(dev_dir: Path = DEV_DIR) -> list[str]:
    """Names of the labelled sets: folders of `dev_dir` holding both images/ and masks/."""
    return sorted(p.name for p in dev_dir.iterdir() if (p / "images").is_dir() and (p / "masks").is_dir())


def load_set(name: str, dev_dir: Path = DEV_DIR, limit: int | None = None, truth: str = "masks") -> list[Sample]:
    """The set's image/mask pairs in name order (the first `limit` when given); `truth` names the
    folder of ground truths (`masks`, or `alphas` for the matting photos).

    An image without a mask is an error: a silently smaller set would change the figures.
    """
    images = sorted(p for p in (dev_dir / name / "images").iterdir() if p.is_file())
    samples = []
    for image in images[:limit]:
        mask = dev_dir / name / truth / f"{image.stem}.png"
        if not mask.is_file():
            raise FileNotFoundError(f"{image} has no mask {mask}")
        samples.append(Sample(image.stem, image, mask))
    if not samples:
        raise FileNotFoundError(f"no images in {dev_dir / name / 'images'}")
    return samples


def resized_jpeg(source: Path, size: tuple[int, int], quality: int = SPEED_JPEG_QUALITY) -> bytes:
    """`source` resized to `size` (width, height) with LANCZOS and encoded as JPEG."""
    with Image.open(source) as image:
        resized = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    resized.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def speed_images(folder: Path, source: Path = SPEED_SOURCE) -> dict[str, Path]:
    """Write the speed photos (one per entry of SPEED_SIZES) into `folder`; label -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for label, size in SPEED_SIZES.items():
        path = folder / f"{source.stem}_{label}.jpg"
        path.write_bytes(resized_jpeg(source, size))
        paths[label] = path
    return paths
