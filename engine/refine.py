"""Full-resolution alpha from the model's low-resolution map (and, re-exported from `foreground`,
the halo-free foreground colours that go with it).

`refine_alpha` drops specks and pinholes, then places the edge where the photo's colours say, with a
colour (3-channel) guided filter fitted on a reduced grid and applied at full resolution only where
the alpha is not plainly 0 or 255, so its cost and memory stay small at 12 MP. Two edge styles, and
the default that mixes them:

- crisp (`crisp_edges`): the prediction gains the photo's local colour detail and an S-curve narrows
  what is left of the model's blur. Scored on binary masks (the dev sets), this is what is best:
  without the curve horse MAE is 17 % worse (u2netp-int8). Hair and fur come out as a firm contour.
- soft (`soft_edges`): in the band where the model is unsure, alpha is estimated from the photo itself, with the
  confident regions held at 0 and 1 (a trimap from the prediction) and the colour-line model of
  closed-form matting (Levin, Lischinski and Weiss, TPAMI 2008) propagating them into the band by
  anchored guided-filter passes (He et al.'s filter is a local approximation of that model's solve).
  No curve: hair strands, fur and fringes keep the softness of the photo. On the matting photos it
  halves the gradient error; on binary-mask sets it costs 10-53 % MAE (README.md, Edges, has both).
- the default: crisp, moved to soft where `edge_gate` opens, that is where the colour-line model's
  two assumptions hold next to the edge: the background is smooth (one colour line: out of focus,
  sky, a studio wall) and the subject's colours stand apart from it. Where they do not (a pale dress
  on a pale street, a dark wheel on cobbles) the soft solve leaves grey haze, and the edge stays crisp.
  Chosen on the validation split (`python -m studies.edge_styles --study gates`): MAE 1.003 / 1.007 /
  1.032 of crisp's on train / DAVIS / people, haze unchanged; on the matting photos it takes the band
  composite error of the edge photos from crisp's 7.40 to 6.29 levels (soft 5.78).

`refine_matte` returns the alpha with the one to unmix the cut-out's colours with: in both styles
the soft style's coverage (its alpha before the noise floor), the photo's own estimate of how much of
each pixel is the subject. So a fringe pixel the crisp curve made opaque while it is still part sky
loses the sky's colour too: no rim of background colour on a plain background, whatever the alpha
style (the crisp default's own alpha, or its pre-curve coverage, left a blue-grey rim on fur against
sky: `python -m studies.edge_styles` has the comparison and its figures).

What the soft tunables were chosen on: SOFT_SURE, SOFT_MARGIN and SOFT_EPS are set from the model's
resolution and the photo's noise, not fitted; SOFT_PASSES and SOFT_FLOOR on the generated discs of
tests/unit/test_refine.py (a sharp one must stay sharp, a blurred one keep its blur); SOFT_RADIUS
(1, 2, 4, 8 model pixels compared) and 3 against 6 passes were also looked at on the 9 matting photos,
where 8 pixels would score best: 4 is kept as the smaller window, not tuned to those photos. The
gate's GATE_RADIUS, SMOOTH_TEXTURE and APART are the first values `studies.edge_gates` tried for each
measure alone, kept unchanged for their product (not tuned): the validation split was used to choose
between the product, each measure alone and looser thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .foreground import decontaminate
from .guided import (
    BAND_ROWS,
    RUN_GAP,
    ColourWindows,
    apply_linear_model,
    block_pixels,
    box,
    grid_guide,
    grid_step,
    resample_to_grid,
    runs,
    upsample_block,
)

__all__ = ["Matte", "decontaminate", "refine_alpha", "refine_matte"]

ISLAND = 0.002  # foreground islands whose visible part is below this fraction of the image are dropped
HOLE = 0.0002  # enclosed holes whose visible part is below this fraction of the image are filled

# crisp edges: the tunables of the gray filter they replace, unchanged (a colour guide with them is
# at least as good on every dev set and on train; softer variants cost horse MAE: see bench/README.md)
WORK_SIDE = 640  # longer side of the grid on which filter coefficients are computed
RADIUS = 1.0  # guided-filter window radius, in pixels of the model's prediction
EPS = 1e-3  # regulariser on colour variance (colour in 0..1): ignores contrast below ~8/255
STEEPNESS = 6.0  # tanh edge curve; slope 3 at alpha 0.5, never flat, so thresholds keep their order

# soft edges: the band is where the model is unsure; its width follows the model's own resolution
SOFT_WORK_SIDE = 400  # the solve's grid: finer than any model's map (256-320), 10-15 ms for the passes
SOFT_SURE = 0.05  # prediction <= 0.05 or >= 0.95 counts as sure background / foreground ...
SOFT_MARGIN = 2.0  # ... once eroded by this many model pixels (the model's edge blur is about 2)
SOFT_RADIUS = 4.0  # window radius in model pixels: wide enough to hold both colours across the band
SOFT_EPS = 1e-4  # colour-variance regulariser: contrast above ~3/255 (about JPEG noise) counts
# anchored passes; each carries the sure 0 and 1 further into the band (beside a sharp generated disc's
# edge 3 passes leave tails of ~18 % alpha, 6 about 9 %); each pass costs ~2 ms on the grid
SOFT_PASSES = 6
SOFT_FLOOR = 8  # alpha levels (of 255) within this of 0 or 255 are noise (colour noise times the slope): snapped

# the default's gate: soft where the colour-line model holds, crisp elsewhere (measured on the soft grid)
GATE_RADIUS = 8.0  # model pixels around a cell whose sure subject and sure background are compared
SMOOTH_TEXTURE = (0.05, 0.10)  # the background's mean Sobel magnitude of gray (0..1 per grid pixel): the
# gate is open below 0.05 (out of focus, one colour line), shut above 0.10 (textured: lines mix)
APART = (2.0, 6.0)  # squared distance of the mean subject and background colours over their summed
# colour variance: shut below 2 (the colours do not separate: the solve would leave grey haze), open above 6


IDENTITY = np.arange(256, dtype=np.uint8)


@dataclass(frozen=True)
class Matte:
    """A refined matte, both uint8 HxW: the cut-out's `alpha`, and `coverage`, the alpha to unmix
    its colours with (the soft style's share of subject per pixel, before its noise floor)."""

    alpha: np.ndarray
    coverage: np.ndarray


def refine_alpha(pred: np.ndarray, bgr: np.ndarray, *, soft: bool = False, steepness: float = STEEPNESS) -> np.ndarray:
    """Low-resolution float32 foreground map (0..1) -> full-resolution uint8 alpha (HxW of `bgr`):
    crisp edges by default (`steepness` 0: without the edge curve), matting-style ones with `soft`."""
    slope, offset, k, table = _linear_model(pred, bgr, soft, steepness)
    return apply_linear_model(slope, offset, bgr, k, table)


def refine_matte(
    pred: np.ndarray, bgr: np.ndarray, *, soft: bool = False, crisp: bool = False, steepness: float = STEEPNESS
) -> Matte:
    """The cut-out's alpha and the coverage to unmix colours with (`Matte`). The alpha is, by default,
    the crisp one moved to the soft one where `edge_gate` opens; `soft` gives the soft style's alpha,
    `crisp` the crisp one (`refine_alpha`'s in both)."""
    k, guide, p, model_pixel = grid_map(pred, bgr, SOFT_WORK_SIDE)
    coverage = apply_linear_model(*soft_model(guide, p, model_pixel), bgr, k, IDENTITY)
    if soft:
        return Matte(cv2.LUT(coverage, noise_floor(SOFT_FLOOR)), coverage)
    alpha = refine_alpha(pred, bgr, steepness=steepness)
    if not crisp:
        soften(alpha, coverage, edge_gate(guide, p, model_pixel), k)
    return Matte(alpha, coverage)


def edge_gate(guide: np.ndarray, p: np.ndarray, model_pixel: float, radius: float = GATE_RADIUS) -> np.ndarray:
    """Per grid cell, how far (0..1) the default's edge follows the soft style: where the background
    next to the edge is smooth (`SMOOTH_TEXTURE`) and the subject's colours stand apart from it
    (`APART`), the two assumptions of the colour-line solve. Measured where both sure regions lie
    within `radius` model pixels, then spread over the unsure band (a normalised box mean), so a band
    wider than the window still gets its edges' verdict. float32 on the grid."""
    sure_fg, sure_bg = sure_regions(p, model_pixel)
    r = max(1, round(radius * model_pixel))
    near = (2 * r + 1, 2 * r + 1)
    mean_fg, var_fg, n_fg = _masked_stats(guide, sure_fg, near)
    mean_bg, var_bg, n_bg = _masked_stats(guide, sure_bg, near)
    gray = cv2.transform(guide, np.full((1, 3), 1 / 3, np.float32))
    sobel = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    texture = cv2.blur(cv2.multiply(sobel, sure_bg, dtype=cv2.CV_32F), near) / np.maximum(n_bg, 1e-6)
    ratio = cv2.transform(cv2.pow(mean_fg - mean_bg, 2), np.ones((1, 3), np.float32)) / (var_fg + var_bg + 1e-4)
    smooth = np.clip((SMOOTH_TEXTURE[1] - texture) * (1 / (SMOOTH_TEXTURE[1] - SMOOTH_TEXTURE[0])), 0, 1)
    apart = np.clip((ratio - APART[0]) * (1 / (APART[1] - APART[0])), 0, 1)
    measured = ((n_fg > 0.05) & (n_bg > 0.05)).astype(np.float32)
    weight: np.ndarray = smooth * apart * measured
    wide = (4 * r + 1, 4 * r + 1)
    spread = cv2.blur(weight, wide) / np.maximum(cv2.blur(measured, wide), 1e-6)
    unmeasured = (measured == 0) & ~sure_fg & ~sure_bg
    weight[unmeasured] = spread[unmeasured]
    return weight


def _masked_stats(guide: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Box statistics of the guide's colours over `mask`'s (bool) pixels: (mean colour, summed colour
    variance, the mask's share of the box)."""
    weight = mask.astype(np.float32)
    share = cv2.blur(weight, size)
    count = cv2.merge([share + 1e-6] * 3)
    inside = cv2.multiply(guide, cv2.merge([weight] * 3))
    mean = cv2.divide(cv2.blur(inside, size), count)
    square = cv2.divide(cv2.blur(cv2.multiply(inside, guide), size), count)
    variance = cv2.transform(np.maximum(square - cv2.pow(mean, 2), 0), np.ones((1, 3), np.float32))
    return mean, variance, share


def soften(alpha: np.ndarray, coverage: np.ndarray, weight: np.ndarray, k: int) -> None:
    """Move the crisp `alpha` (uint8, in place) toward the soft style's, `coverage` through the noise
    floor, by `weight` (0..1 on the soft grid of step k, upsampled bilinearly): only the blocks of
    cells within one cell of an open one are touched."""
    floor = noise_floor(SOFT_FLOOR)
    scaled = np.clip(weight * 255 + 0.5, 0, 255).astype(np.uint8)
    near = cv2.dilate(scaled, np.ones((3, 3), np.uint8)) > 0  # cells a bilinear upsample reaches
    band = max(1, BAND_ROWS // k)
    for g0 in range(0, near.shape[0], band):
        g1 = min(near.shape[0], g0 + band)
        for c0, c1 in runs(np.any(near[g0:g1], axis=0), gap=RUN_GAP):
            cells = (slice(g0, g1), slice(c0, c1))
            pixels = block_pixels(cells, k, alpha.shape)
            if pixels is None:
                continue
            opened = upsample_block(scaled, k, cells, pixels)
            soft = cv2.LUT(coverage[pixels], floor)
            mixed = cv2.add(
                cv2.multiply(soft, opened, dtype=cv2.CV_16U),
                cv2.multiply(alpha[pixels], cv2.bitwise_not(opened), dtype=cv2.CV_16U),
            )
            alpha[pixels] = cv2.convertScaleAbs(mixed, alpha=1 / 255)


def _linear_model(
    pred: np.ndarray, bgr: np.ndarray, soft: bool, steepness: float
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(slope, offset, grid step, lookup table) of the chosen edge style's per-pixel alpha model."""
    k, guide, p, model_pixel = grid_map(pred, bgr, SOFT_WORK_SIDE if soft else WORK_SIDE)
    if soft:
        return (*soft_model(guide, p, model_pixel), k, noise_floor(SOFT_FLOOR))
    return (*detail_model(guide, p, max(1, round(RADIUS * model_pixel)), EPS), k, edge_curve(steepness))


def grid_map(pred: np.ndarray, bgr: np.ndarray, work_side: int) -> tuple[int, np.ndarray, np.ndarray, float]:
    """The refinement's working grid for a photo: (its step k, the photo's colours on it, the
    cleaned prediction on it, grid pixels per pixel of the prediction)."""
    height, width = bgr.shape[:2]
    k = grid_step(height, width, work_side)
    guide = grid_guide(bgr, k)
    p = resample_to_grid(remove_specks(pred, ISLAND, HOLE), k, height, width)
    return k, guide, p, max(guide.shape[:2]) / max(pred.shape)


def sure_regions(p: np.ndarray, model_pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """The soft style's sure foreground and background (bool): p >= 1 - SOFT_SURE, resp.
    p <= SOFT_SURE, eroded by SOFT_MARGIN model pixels."""
    return _eroded(p >= 1 - SOFT_SURE, SOFT_MARGIN * model_pixel), _eroded(p <= SOFT_SURE, SOFT_MARGIN * model_pixel)


def detail_model(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Guided detail transfer: alpha = p + a . (colour - mean colour), a the box-averaged slope of
    p on colour. As (slope per uint8 colour unit, offset as alpha x 255) on the grid."""
    windows = ColourWindows.of(guide, r, eps)
    slope = box(windows.slope(p)[0], r)
    offset = (p - windows.dot(slope, windows.mean)) * 255
    return slope, offset


def soft_model(guide: np.ndarray, p: np.ndarray, model_pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour-line alpha in the unsure band, 0 and 1 held where the prediction is sure; as (slope
    per uint8 colour unit, offset as alpha x 255) on the grid. Each pass fits alpha = a . colour + b
    per window to the current estimate (the guided filter), evaluates the averaged models and puts
    the sure pixels back to 0 and 1."""
    sure_fg, sure_bg = sure_regions(p, model_pixel)
    sure = sure_fg | sure_bg
    anchor = sure_fg.astype(np.float32)
    r = max(1, round(SOFT_RADIUS * model_pixel))
    windows = ColourWindows.of(guide, r, SOFT_EPS)
    estimate = np.where(sure, anchor, p)
    for _ in range(SOFT_PASSES - 1):
        slope, offset = _averaged_model(windows, estimate)
        estimate = np.where(sure, anchor, np.clip(windows.dot(slope, guide) + offset, 0, 1))
    slope, offset = _averaged_model(windows, estimate)
    slope[sure] = 0  # sure cells are exactly 0 or 1, whatever the colour: no haze off the edge
    offset[sure] = anchor[sure]
    return slope, offset * 255


def _averaged_model(windows: ColourWindows, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's coefficients: per-window fits of p = a . colour + b, box-averaged."""
    a, mean_p = windows.slope(p)
    return box(a, windows.r), box(mean_p - windows.dot(a, windows.mean), windows.r)


def _eroded(mask: np.ndarray, radius: float) -> np.ndarray:
    """`mask` eroded by a disc of `radius` pixels (at least 1)."""
    side = 2 * max(1, round(radius)) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    eroded: np.ndarray = cv2.erode(mask.view(np.uint8), disc).view(bool)
    return eroded


def edge_curve(steepness: float) -> np.ndarray:
    """uint8 lookup table of a tanh S-curve through (128, 128): narrows the soft edge, keeps it soft
    (the identity for steepness 0)."""
    if steepness <= 0:
        return IDENTITY
    x = np.arange(256, dtype=np.float64) / 255 - 0.5
    curve = 0.5 + 0.5 * np.tanh(steepness * x) / np.tanh(steepness / 2)
    table: np.ndarray = np.clip(curve * 255 + 0.5, 0, 255).astype(np.uint8)
    return table


def noise_floor(levels: int) -> np.ndarray:
    """uint8 lookup table that maps 0..levels to 0 and 255-levels..255 to 255, linear in between."""
    x = (np.arange(256, dtype=np.float64) - levels) / (255 - 2 * levels)
    table: np.ndarray = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    return table


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
