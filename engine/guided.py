"""A fast guided filter (He and Sun, 2015) as used for alpha upsampling: linear coefficients
fitted on a reduced grid, applied to the full-resolution photo only where they can matter."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

BAND_ROWS = 256  # full-resolution rows produced per step (bounds the float32 temporaries)
RUN_GAP = 4  # column runs of cells to compute closer than this many cells are merged


def grid_step(height: int, width: int, work_side: int) -> int:
    """Integer downsampling factor k (grid cells are k x k pixel blocks) that brings the longer side
    to at most `work_side`, but leaves the grid at least one cell high and wide."""
    return max(1, min(-(-max(height, width) // work_side), height, width))


def resample_to_grid(pred: np.ndarray, k: int, height: int, width: int) -> np.ndarray:
    """The prediction (covering the whole photo) bilinearly sampled at the centres of the grid's
    k x k cells, which cover the photo's top-left (height // k * k) x (width // k * k) pixels."""
    fx, fy = k * pred.shape[1] / width, k * pred.shape[0] / height
    to_pred = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    pred = pred.astype(np.float32, copy=False)
    size = (width // k, height // k)
    grid: np.ndarray = cv2.warpAffine(pred, to_pred, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return grid


def guided_slope(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Box-averaged guided-filter slope of `p` on `guide` (He et al.) and the guide's box mean."""
    window = (2 * r + 1, 2 * r + 1)
    mean_i = cv2.blur(guide, window)
    mean_p = cv2.blur(p, window)
    cov_ip = cv2.subtract(cv2.blur(cv2.multiply(guide, p), window), cv2.multiply(mean_i, mean_p))
    var_i = cv2.subtract(cv2.sqrBoxFilter(guide, cv2.CV_32F, window), cv2.multiply(mean_i, mean_i))
    return cv2.blur(cv2.divide(cov_ip, cv2.add(var_i, eps)), window), mean_i


def apply_linear_model(slope: np.ndarray, offset: np.ndarray, bgr: np.ndarray, k: int, lut: np.ndarray) -> np.ndarray:
    """alpha = lut(clip(slope * gray + offset)) for the photo's gray, with slope and offset
    bilinearly upsampled k-fold from their grid. Cells whose alpha is provably constant (the curve
    saturates whatever the gray) are filled directly; the others are computed in blocks of rows and
    column runs, so neither a full-resolution gray nor a float image is ever allocated."""
    height, width = bgr.shape[:2]
    # one replicated row and column beyond the grid cover the photo's last (height % k, width % k) pixels
    slope, offset = (cv2.copyMakeBorder(m, 0, 1, 0, 1, cv2.BORDER_REPLICATE) for m in (slope, offset))
    fill, mixed = constant_cells(slope, offset, lut)
    alpha = _upsample_cells(fill, k, height, width)
    band = max(1, BAND_ROWS // k)
    for g0 in range(0, fill.shape[0], band):
        g1 = min(fill.shape[0], g0 + band)
        for c0, c1 in _runs(mixed[g0:g1].any(axis=0), gap=RUN_GAP):
            cells = (slice(g0, g1), slice(c0, c1))
            _apply_block(slope, offset, bgr, k, lut, alpha, cells)
    return alpha


def constant_cells(slope: np.ndarray, offset: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 grid of 0/255, bool grid `mixed`): a cell is constant when every pixel interpolated
    from it and its neighbours maps to 0 (or to 255) through clip-round-lut for any gray 0..255."""
    zero_below = np.flatnonzero(lut == 0).max(initial=-1) + 0.49
    one_above = np.flatnonzero(lut == 255).min(initial=256) - 0.49
    top = cv2.dilate(cv2.scaleAdd(cv2.max(slope, 0.0), 255.0, offset), None)  # 3x3 neighbourhood
    bottom = cv2.erode(cv2.scaleAdd(cv2.min(slope, 0.0), 255.0, offset), None)
    fill = cv2.compare(bottom, one_above, cv2.CMP_GT)  # 255 where surely opaque
    return fill, cv2.compare(top, zero_below, cv2.CMP_GE) > fill


def _upsample_cells(fill: np.ndarray, k: int, height: int, width: int) -> np.ndarray:
    """Each cell's value repeated over its k x k pixels (the extra last row/column over the rest)."""
    rows, cols = (fill.shape[0] - 1) * k, (fill.shape[1] - 1) * k
    alpha = np.empty((height, width), np.uint8)
    if rows and cols:
        nearest = cv2.INTER_NEAREST
        cv2.resize(fill[:-1, :-1], (cols, rows), dst=alpha[:rows, :cols], interpolation=nearest)
    alpha[rows:, :] = np.repeat(fill[-1], k)[:width]
    alpha[:, cols:] = np.repeat(fill[:, -1], k)[:height, None]
    return alpha


def _runs(flags: npt.ArrayLike, gap: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in `flags`, runs closer than `gap` merged."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], flags, [False])).astype(np.int8)))
    runs: list[tuple[int, int]] = []
    for start, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if runs and start - runs[-1][1] < gap:
            start = runs.pop()[0]
        runs.append((start, end))
    return runs


def _apply_block(
    slope: np.ndarray,
    offset: np.ndarray,
    bgr: np.ndarray,
    k: int,
    lut: np.ndarray,
    alpha: np.ndarray,
    cells: tuple[slice, slice],
) -> None:
    """Write lut(clip(slope * gray + offset)) into the pixels of a block of cells; the block is
    upsampled with one cell of context on each side so that it matches a whole-image resize."""
    height, width = bgr.shape[:2]
    ys, xs = cells
    r0, r1 = max(0, ys.start - 1), min(slope.shape[0], ys.stop + 1)
    c0, c1 = max(0, xs.start - 1), min(slope.shape[1], xs.stop + 1)
    y0, y1 = ys.start * k, min(height, ys.stop * k)
    x0, x1 = xs.start * k, min(width, xs.stop * k)
    if y0 >= y1 or x0 >= x1:  # only the padding cells, beyond a photo whose sides are multiples of k
        return
    size = ((c1 - c0) * k, (r1 - r0) * k)
    inside = (slice(y0 - r0 * k, y1 - r0 * k), slice(x0 - c0 * k, x1 - c0 * k))
    q = cv2.resize(slope[r0:r1, c0:c1], size, interpolation=cv2.INTER_LINEAR)[inside]
    q = cv2.multiply(q, cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY), dtype=cv2.CV_32F)
    q += cv2.resize(offset[r0:r1, c0:c1], size, interpolation=cv2.INTER_LINEAR)[inside]
    cv2.max(q, 0.0, dst=q)  # convertScaleAbs would mirror negatives
    alpha[y0:y1, x0:x1] = cv2.LUT(cv2.convertScaleAbs(q), lut)
