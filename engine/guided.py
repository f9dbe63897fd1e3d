"""A fast colour guided filter (He, Sun and Tang, "Guided Image Filtering", TPAMI 2013, with the
3-channel guide of its section 3.5; He and Sun, "Fast Guided Filter", 2015): linear colour models
alpha = a . colour + b fitted on a reduced grid, applied to the full-resolution photo only where
they can matter.

Shapes: the grid guide is float32 rows x cols x 3 (BGR in 0..1); slopes a are rows x cols x 3 per
unit of colour in 0..1; offsets are rows x cols, as alpha x 255 at colour 0; the photo is uint8 BGR.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BAND_ROWS = 256  # full-resolution rows produced per step (bounds the float32 temporaries)
RUN_GAP = 4  # column runs of cells to compute closer than this many cells are merged
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # the upper triangle of a 3x3 covariance


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


def grid_guide(bgr: np.ndarray, k: int) -> np.ndarray:
    """The photo on the grid as float32 BGR in 0..1. A linear k-fold shrink samples cell centres:
    on the dev sets as good a guide as an area average, and far cheaper."""
    rows, cols = bgr.shape[0] // k, bgr.shape[1] // k
    small = cv2.resize(bgr[: rows * k, : cols * k], (cols, rows), interpolation=cv2.INTER_LINEAR)
    guide: np.ndarray = small.astype(np.float32) * (1 / 255)
    return guide


def box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the (2r+1)^2 window (borders reflected), per channel."""
    mean: np.ndarray = cv2.blur(x, (2 * r + 1, 2 * r + 1))
    return mean


@dataclass(frozen=True)
class ColourWindows:
    """What the guided filter needs of the guide alone, per window of radius `r`: the mean colour
    and the inverse of (colour covariance + eps * identity), as its 6 distinct entries. Channels
    are kept apart: single-channel arithmetic is faster than broadcasting over a colour axis."""

    channels: tuple[np.ndarray, ...]  # the guide's B, G, R, each rows x cols
    r: int
    mean: np.ndarray  # box-mean colour, rows x cols x 3
    means: tuple[np.ndarray, ...]  # the same, per channel
    inverse: tuple[np.ndarray, ...]  # (00, 01, 02, 11, 12, 22), each rows x cols

    @classmethod
    def of(cls, guide: np.ndarray, r: int, eps: float) -> ColourWindows:
        channels, mean = tuple(cv2.split(guide)), box(guide, r)
        means = tuple(cv2.split(mean))
        cov = [box(channels[i] * channels[j], r) - means[i] * means[j] for i, j in _PAIRS]
        for diagonal in (0, 3, 5):
            cov[diagonal] += eps
        return cls(channels, r, mean, means, _inverse_sym3(*cov))

    def slope(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, mean of p): the least-squares slopes a (rows x cols x 3) of p on colour per window."""
        mean_p = box(p, self.r)
        c0, c1, c2 = (box(c * p, self.r) - mc * mean_p for c, mc in zip(self.channels, self.means, strict=True))
        i00, i01, i02, i11, i12, i22 = self.inverse
        a = cv2.merge([i00 * c0 + i01 * c1 + i02 * c2, i01 * c0 + i11 * c1 + i12 * c2, i02 * c0 + i12 * c1 + i22 * c2])
        return a, mean_p

    @staticmethod
    def dot(a: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """Per pixel a . colour for rows x cols x 3 arrays."""
        product: np.ndarray = cv2.transform(cv2.multiply(a, colour), np.ones((1, 3), np.float32))
        return product


def _inverse_sym3(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray, f: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Entries (00, 01, 02, 11, 12, 22) of the inverse of the symmetric [[a b c] [b d e] [c e f]],
    per pixel, by cofactors (the matrices are positive definite: covariance + eps I)."""
    cof = (d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e, a * d - b * b)
    inverse_det = 1 / (a * cof[0] + b * cof[1] + c * cof[2])
    return tuple(x * inverse_det for x in cof)


def apply_linear_model(slope: np.ndarray, offset: np.ndarray, bgr: np.ndarray, k: int, lut: np.ndarray) -> np.ndarray:
    """alpha = lut(clip(slope . colour + offset)) for the photo's colours, with slope (per unit of
    uint8 colour) and offset (alpha x 255) bilinearly upsampled k-fold from their grid. Cells whose
    alpha is provably constant (the curve saturates whatever the colour) are filled directly; the
    others are computed in blocks of rows and column runs, so no full-resolution float image is
    ever allocated."""
    height, width = bgr.shape[:2]
    # one replicated row and column beyond the grid cover the photo's last (height % k, width % k) pixels
    slope, offset = (cv2.copyMakeBorder(m, 0, 1, 0, 1, cv2.BORDER_REPLICATE) for m in (slope, offset))
    fill, mixed = constant_cells(slope, offset, lut)
    alpha = _upsample_cells(fill, k, height, width)
    band = max(1, BAND_ROWS // k)
    for g0 in range(0, fill.shape[0], band):
        g1 = min(fill.shape[0], g0 + band)
        for c0, c1 in runs(np.any(mixed[g0:g1], axis=0), gap=RUN_GAP):
            _apply_block(slope, offset, bgr, k, lut, alpha, (slice(g0, g1), slice(c0, c1)))
    return alpha


def constant_cells(slope: np.ndarray, offset: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 grid of 0/255, bool grid `mixed`): a cell is constant when every pixel interpolated
    from it and its neighbours maps to 0 (or to 255) through clip-round-lut for any colour 0..255."""
    zero_below = np.flatnonzero(lut == 0).max(initial=-1) + 0.49
    one_above = np.flatnonzero(lut == 255).min(initial=256) - 0.49
    ones = np.ones((1, 3), np.float32)
    rise = cv2.transform(np.maximum(slope, 0), ones)  # the most any colour can add (per unit of colour)
    fall = cv2.transform(np.minimum(slope, 0), ones)
    square = np.ones((3, 3), np.uint8)  # each cell's 3x3 neighbourhood
    top = cv2.dilate(cv2.scaleAdd(rise, 255.0, offset), square)
    bottom = cv2.erode(cv2.scaleAdd(fall, 255.0, offset), square)
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


def runs(flags: np.ndarray, gap: int) -> list[tuple[int, int]]:
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
    """Write lut(clip(slope . colour + offset)) into the pixels of a block of cells."""
    pixels = block_pixels(cells, k, bgr.shape[:2])
    if pixels is None:  # only the padding cells, beyond a photo whose sides are multiples of k
        return
    q = cv2.transform(
        cv2.multiply(upsample_block(slope, k, cells, pixels), bgr[pixels], dtype=cv2.CV_32F),
        np.ones((1, 3), np.float32),
    )
    q = cv2.add(q, upsample_block(offset, k, cells, pixels))
    np.maximum(q, 0, out=q)  # convertScaleAbs would mirror negatives
    alpha[pixels] = cv2.LUT(cv2.convertScaleAbs(q), lut)


def block_pixels(cells: tuple[slice, slice], k: int, shape: tuple[int, ...]) -> tuple[slice, slice] | None:
    """The photo's pixels (rows, columns) under a block of grid cells, None when it has none."""
    ys, xs = cells
    y0, y1 = ys.start * k, min(shape[0], ys.stop * k)
    x0, x1 = xs.start * k, min(shape[1], xs.stop * k)
    return None if y0 >= y1 or x0 >= x1 else (slice(y0, y1), slice(x0, x1))


def upsample_block(grid: np.ndarray, k: int, cells: tuple[slice, slice], pixels: tuple[slice, slice]) -> np.ndarray:
    """`grid` bilinearly upsampled k-fold over a block of its cells (`pixels` from `block_pixels`):
    resized with one cell of context on each side, so that it matches a whole-grid resize."""
    ys, xs = cells
    r0, r1 = max(0, ys.start - 1), min(grid.shape[0], ys.stop + 1)
    c0, c1 = max(0, xs.start - 1), min(grid.shape[1], xs.stop + 1)
    size = ((c1 - c0) * k, (r1 - r0) * k)
    inside = (
        slice(pixels[0].start - r0 * k, pixels[0].stop - r0 * k),
        slice(pixels[1].start - c0 * k, pixels[1].stop - c0 * k),
    )
    block: np.ndarray = cv2.resize(grid[r0:r1, c0:c1], size, interpolation=cv2.INTER_LINEAR)[inside]
    return block
