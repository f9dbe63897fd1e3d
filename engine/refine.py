"""Full-resolution alpha from the model's low-resolution map (and, re-exported from `foreground`,
the halo-free foreground colours that go with it).

`refine_alpha` drops specks and pinholes, upsamples the prediction edge-aware (guided by the photo)
and narrows the soft edge. The filter is fitted on a reduced grid and applied at full resolution
only where the alpha is not plainly 0 or 255, so its cost and memory stay small at 12 MP.
"""

from __future__ import annotations

import cv2
import numpy as np

from .foreground import decontaminate
from .guided import apply_linear_model, grid_step, guided_slope, resample_to_grid

__all__ = ["decontaminate", "refine_alpha"]

WORK_SIDE = 640  # longer side of the grid on which filter coefficients are computed
RADIUS = 1.0  # guided-filter window radius, in pixels of the model's prediction
EPS = 1e-3  # guided-filter regulariser on gray variance (gray in 0..1): ignores contrast below ~8/255
STEEPNESS = 6.0  # tanh edge curve; slope 3 at alpha 0.5, never flat, so thresholds keep their order
ISLAND = 0.002  # foreground islands whose visible part is below this fraction of the image are dropped
HOLE = 0.0002  # enclosed holes whose visible part is below this fraction of the image are filled


def refine_alpha(
    pred: np.ndarray,
    bgr: np.ndarray,
    *,
    radius: float = RADIUS,
    eps: float = EPS,
    steepness: float = STEEPNESS,
    work_side: int = WORK_SIDE,
    island: float = ISLAND,
    hole: float = HOLE,
) -> np.ndarray:
    """Low-resolution float32 foreground map (0..1) -> full-resolution uint8 alpha (HxW of `bgr`).

    Guided detail transfer: the prediction, bilinearly upsampled, gains the photo's local detail
    a * (gray - mean gray), where a is the guided filter's local slope of prediction on gray; the
    slopes are fitted on a grid at most `work_side` long and applied to the full-resolution gray.
    """
    height, width = bgr.shape[:2]
    k = grid_step(height, width, work_side)
    rows, cols = height // k, width // k
    # a linear k-fold shrink samples cell centres: on the dev sets as good a guide as an area average, far cheaper
    small = cv2.resize(bgr[: rows * k, : cols * k], (cols, rows), interpolation=cv2.INTER_LINEAR)
    guide = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32) * (1 / 255)
    p = resample_to_grid(remove_specks(pred, island, hole), k, height, width)
    r = max(1, round(radius * max(rows, cols) / max(pred.shape)))
    slope, mean_guide = guided_slope(guide, p, r, eps)
    offset = (p - slope * mean_guide) * 255  # alpha*255 = slope * gray + offset
    return apply_linear_model(slope, offset, bgr, k, edge_curve(steepness))


def edge_curve(steepness: float) -> np.ndarray:
    """uint8 lookup table of a tanh S-curve through (128, 128): narrows the soft edge, keeps it soft."""
    x = np.arange(256, dtype=np.float64) / 255 - 0.5
    curve = 0.5 + 0.5 * np.tanh(steepness * x) / np.tanh(steepness / 2)
    lut: np.ndarray = np.clip(curve * 255 + 0.5, 0, 255).astype(np.uint8)
    return lut


def remove_specks(p: np.ndarray, island: float, hole: float) -> np.ndarray:
    """Zero foreground islands and fill enclosed holes whose visible part (p >= 0.5, resp. p < 0.5)
    is smaller than the given fractions of the area. An island is a connected region of p > 0.1 and
    a hole one of p < 0.9, so each goes with its soft rim; every other value is left as it is."""
    area = p.shape[0] * p.shape[1]
    core = p >= 0.5
    islands = _small_components(p > 0.1, core, island * area, enclosed=False)
    holes = _small_components(p < 0.9, ~core, hole * area, enclosed=True)
    if islands is None and holes is None:
        return p
    p = p.copy()
    if islands is not None:
        p[islands] = 0.0
    if holes is not None:
        p[holes] = 1.0
    return p


def _small_components(region: np.ndarray, core: np.ndarray, max_core: float, enclosed: bool) -> np.ndarray | None:
    """Pixels of the 8-connected components of `region` holding fewer than `max_core` pixels of
    `core` (and, when `enclosed`, not touching the border), or None when there are none; the
    component with the largest core is always kept (a small subject is still the subject)."""
    count, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    cores = np.bincount((labels * core).ravel(), minlength=count)  # label 0 also gathers non-core pixels
    cores[0] = 0
    small = cores < max_core
    small[[0, int(np.argmax(cores))]] = False  # label 0 is the region's complement
    if enclosed:
        small[labels[[0, -1]].ravel()] = False
        small[labels[:, [0, -1]].ravel()] = False
    return small[labels] if small.any() else None
