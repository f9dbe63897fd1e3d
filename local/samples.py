"""The bundled sample photos (samples/*.jpg) as the objects a local run stores in S3."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from handler.storage import ObjectRef

from .events import NewObject

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def sample_images(folder: Path = SAMPLES_DIR) -> list[Path]:
    """Every bundled sample image, by name."""
    images = sorted(folder.glob("*.jpg"))
    if not images:
        raise FileNotFoundError(f"no sample images (*.jpg) in {folder}")
    return images


def sample_for(key: str, index: int, images: list[Path]) -> Path:
    """The sample whose file name ends the key, else the index-th sample (cycling)."""
    name = key.rsplit("/", 1)[-1]
    return next((image for image in images if image.name == name), images[index % len(images)])


def put_object(s3: Any, bucket: str, key: str, data: bytes) -> NewObject:
    """Store bytes under a key and describe the new object as a notification would."""
    response = s3.put_object(Bucket=bucket, Key=key, Body=data)
    return NewObject(bucket, key, len(data), response["ETag"].strip('"'))


def seed_objects(s3: Any, refs: Iterable[ObjectRef], images: list[Path] | None = None) -> list[tuple[NewObject, Path]]:
    """Store an image under every object an event names (`images` as sample_for picks them, the
    bundled samples by default); returns what went where."""
    images = images or sample_images()
    seeded = []
    for index, ref in enumerate(refs):
        image = sample_for(ref.key, index, images)
        seeded.append((put_object(s3, ref.bucket, ref.key, image.read_bytes()), image))
    return seeded
