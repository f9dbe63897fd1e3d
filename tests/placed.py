"""What a user checks on a placed cut-out: its size, where the subject's box is and how large."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from tests.synthetic import encode

TOLERANCE = 0.02  # the issue's: centred within 2 %, the longer side within 2 % of the asked share
ON_WHITE = 12  # a channel this far from 255 is the subject, not the white background (JPEG noise)


def subject_box_on_white(image: Image.Image) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the pixels that are not the white background."""
    pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    ys, xs = np.nonzero(np.abs(pixels - 255).max(axis=2) > ON_WHITE)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def assert_centred_at_share(image: Image.Image, side: int, share: float) -> None:
    """A `side` x `side` image whose subject is centred within TOLERANCE, its longer side `share` of it."""
    assert image.size == (side, side)
    x0, y0, x1, y1 = subject_box_on_white(image)
    assert abs(max(x1 - x0, y1 - y0) / side - share) <= TOLERANCE, (x0, y0, x1, y1)
    assert abs((x0 + x1) / 2 / side - 0.5) <= TOLERANCE and abs((y0 + y1) / 2 / side - 0.5) <= TOLERANCE


def discs(*circles: tuple[int, int, int], width: int = 400, height: int = 300) -> bytes:
    """A PNG of red discs (x, y, radius) on a plain grey photo."""
    image = np.full((height, width, 3), 200, np.uint8)
    for x, y, radius in circles:
        cv2.circle(image, (x, y), radius, (40, 40, 220), -1, cv2.LINE_AA)
    return encode(image, ".png")


def two_discs(width: int = 400, height: int = 300) -> bytes:
    """Two separate discs of the same size, left and right: several subjects."""
    return discs(
        (width // 4, height // 2, height // 5), (3 * width // 4, height // 2, height // 5), width=width, height=height
    )
