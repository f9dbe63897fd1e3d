"""Foreground colour estimation: remove the old background's tint from semi-transparent pixels.

Blur-fusion (Forte and Pitié, "Approximate fast foreground colour estimation", ICIP 2021): local
foreground and background colours are alpha-weighted box means, refined in shrinking windows on a
reduced grid; each partial pixel I then gets F = F_local + alpha * (I - alpha * F_local - (1 - alpha)
* B_local). Only the partial pixels are touched at full resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from .guided import grid_step

GRID_SIDE = 256  # longer side of the grid on which local colours are estimated
STEPS = (0.06, 0.02, 0.01)  # blur-fusion window radii, as fractions of the grid's longer side
FINAL_RADIUS = 1  # radius of the last local mean, in grid cells
BAND_ROWS = 512  # full-resolution rows searched for partial pixels per step
_SAMPLE_COLS = 4096  # remap wants each side of its maps below 32767: point lists are folded into rows
_PIXEL = np.dtype((np.void, 3))  # one BGR pixel as a single item, for fast gathers and scatters


def decontaminate(
    bgr: np.ndarray, alpha: np.ndarray, in_place: bool = False, shown: np.ndarray | None = None
) -> np.ndarray:
    """Foreground colours (HxWx3 uint8) with the old background's tint removed where alpha is
    partial (0 < alpha < 255); other pixels keep their colour. Returns `bgr` itself when no pixel
    is partial, otherwise a new array (or, with `in_place`, `bgr` rewritten: no full-size copy);
    `alpha` is never modified. With `shown` (the cut-out's own alpha, HxW uint8), pixels it makes
    fully transparent keep their colour too: nobody sees it (a third of a soft coverage's partial
    pixels at 12 MP, where the crisp edge is inside it)."""
    alpha = np.ascontiguousarray(alpha)
    width = alpha.shape[1]
    x0, top, box_width, box_height = cv2.boundingRect(alpha)  # partial pixels lie in the visible ones' box
    out: np.ndarray | None = None
    partial = np.empty((min(box_height, BAND_ROWS), box_width), np.uint8)  # reused: no page faults per band
    for y0 in range(top, top + box_height, BAND_ROWS):
        band = alpha[y0 : min(y0 + BAND_ROWS, top + box_height), x0 : x0 + box_width]
        found = cv2.inRange(band, 1, 254, dst=partial[: band.shape[0]])
        if shown is not None:  # 0 where the cut-out is transparent
            cv2.min(found, shown[y0 : y0 + band.shape[0], x0 : x0 + box_width], dst=found)
        points = cv2.findNonZero(found)
        if points is None:
            continue
        if out is None:
            out = bgr if in_place and bgr.flags.c_contiguous else bgr.copy()  # gathers need C order
            k, fg_local, diff_local = _local_colours(bgr, alpha)
        xs, ys = _fold(points.reshape(-1, 2).T)
        xs += x0
        ys += y0
        at = ys.astype(np.intp) * width + xs
        pixels = out.reshape(-1, 3).view(_PIXEL).ravel()
        pixels[at.ravel()] = (
            _unmix(
                np.take(pixels, at).view(np.uint8).reshape(*at.shape, 3),
                np.take(alpha.reshape(-1), at),
                *(_sample(grid, xs, ys, k) for grid in (fg_local, diff_local)),
            )
            .view(_PIXEL)
            .ravel()
        )
    return bgr if out is None else out


def _fold(points: np.ndarray) -> np.ndarray:
    """2xN int32 points -> 2 x rows x _SAMPLE_COLS, padded with copies of the first point (which
    then get the same colour written twice, harmlessly)."""
    n = points.shape[1]
    rows = -(-n // _SAMPLE_COLS)
    padded = np.empty((2, rows * _SAMPLE_COLS), np.int32)
    padded[:, :n] = points
    padded[:, n:] = points[:, :1]
    return padded.reshape(2, rows, _SAMPLE_COLS)


def _unmix(colour: np.ndarray, alpha: np.ndarray, fg: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """F = fg + a * ((I - fg) + (1 - a) * (fg - bg)) per pixel, as uint8 (all arrays RxCx3 but alpha)."""
    a = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR).astype(np.float32) * (1 / 255)  # same shape: no slow broadcast
    f = colour.astype(np.float32)
    f -= fg
    f += (1 - a) * diff
    f *= a
    f += fg + 0.5
    return np.clip(f, 0, 255, out=f).astype(np.uint8)


def _sample(grid: np.ndarray, xs: np.ndarray, ys: np.ndarray, k: int) -> np.ndarray:
    """Bilinear samples of a float32 grid of k x k cells at full-resolution pixel positions."""
    map_x = (xs.astype(np.float32) + 0.5) * (1 / k) - 0.5
    map_y = (ys.astype(np.float32) + 0.5) * (1 / k) - 0.5
    samples: np.ndarray = cv2.remap(grid, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return samples


def _local_colours(bgr: np.ndarray, alpha: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(k, foreground, foreground - background): local colour estimates (float32 HxWx3) on a grid
    of k x k cells, from blur-fusion steps in shrinking windows starting from F = B = I."""
    height, width = alpha.shape
    k = grid_step(height, width, GRID_SIDE)
    size = (width // k, height // k)
    crop = (slice(0, size[1] * k), slice(0, size[0] * k))  # linear resizes then sample cell centres
    image = cv2.resize(bgr[crop], size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    a = cv2.resize(alpha[crop], size, interpolation=cv2.INTER_LINEAR)
    a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR).astype(np.float32) * (1 / 255)
    weights = (a, 1 - a)
    fg = bg = image
    for fraction in STEPS:
        fg_local, bg_local = _local_means(fg, bg, weights, max(1, round(fraction * max(size))))
        residual = image - a * fg_local - weights[1] * bg_local
        fg = np.clip(fg_local + a * residual, 0, 255)
        bg = np.clip(bg_local + weights[1] * residual, 0, 255)
    fg_local, bg_local = _local_means(fg, bg, weights, FINAL_RADIUS)
    return k, fg_local, fg_local - bg_local


def _local_means(
    fg: np.ndarray, bg: np.ndarray, weights: tuple[np.ndarray, np.ndarray], r: int
) -> tuple[np.ndarray, np.ndarray]:
    """Box means of the foreground weighted by alpha and of the background weighted by 1 - alpha."""
    window = (2 * r + 1, 2 * r + 1)
    a, b = weights
    a_sum = cv2.blur(a, window)
    return cv2.blur(fg * a, window) / (a_sum + 1e-4), cv2.blur(bg * b, window) / (1 + 1e-4 - a_sum)
