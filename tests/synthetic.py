"""Generated test photos with known ground truth (redistributable: made here, from a fixed seed)."""

from __future__ import annotations

import cv2
import numpy as np


def scene(width: int = 640, height: int = 480, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A shaded, textured object on a soft, out-of-focus background.

    Returns (bgr uint8 HxWx3, mask uint8 HxW with 255 = object)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    top, bottom = rng.uniform(150, 230, 3), rng.uniform(60, 140, 3)
    t = (yy / max(height - 1, 1))[:, :, None]
    background = top * (1 - t) + bottom * t
    blotches = cv2.GaussianBlur(
        rng.normal(0, 25, (height, width, 3)).astype(np.float32), (0, 0), min(width, height) / 12
    )
    background += blotches * 4
    cx, cy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.45, 0.6)
    rx, ry = width * rng.uniform(0.18, 0.26), height * rng.uniform(0.25, 0.33)
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    mask = (inside <= 1.0).astype(np.uint8) * 255
    colour = np.array([30, 40, 200], np.float32) if seed % 2 == 0 else np.array([40, 160, 60], np.float32)
    light = np.clip(1.25 - 0.6 * np.sqrt(((xx - cx + rx / 3) / rx) ** 2 + ((yy - cy + ry / 3) / ry) ** 2), 0.35, 1.25)
    texture = 1 + 0.08 * np.sin(xx / 7.0) * np.sin(yy / 9.0)
    subject = colour * (light * texture)[:, :, None]
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 1.2)[:, :, None]
    image = subject * soft + background * (1 - soft) + rng.normal(0, 3, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def encode(bgr: np.ndarray, ext: str = ".jpg", *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, bgr, list(params))
    assert ok
    return buf.tobytes()
