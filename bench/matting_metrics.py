"""Alpha-matte quality: SAD, MSE, gradient and connectivity errors (Rhemann et al., "A Perceptually
Motivated Online Benchmark for Image Matting", CVPR 2009), as the Deep Image Matting evaluation code
computes them (Xu et al. 2017: `compute_sad_loss.m`, `compute_mse_loss.m`, `compute_gradient_loss.m`,
`compute_connectivity_error.m`), over a region of pixels instead of a trimap's unknown area.

Definitions, with alphas scaled to 0..1 by /255 and R the region (the whole image, or the band):
- SAD = sum over R of |pred - gt| / 1000;
- MSE = mean over R of (pred - gt)^2 (reported x 1000 in the tables);
- Grad = sum over R of (|grad pred| - |grad gt|)^2 / 1000, gradients by convolution with the first
  derivative of a Gaussian, sigma 1.4, the DIM code's `gaussgradient` kernel (size from a 1e-2
  truncation, normalised to unit L2 norm), borders replicated;
- Conn = sum over R of |phi(pred) - phi(gt)| / 1000 with phi(x) = 1 - d * [d >= 0.15], d = x - l, where
  l is, per pixel, the last threshold t of 0, 0.1, ..., 1 at which the pixel still belonged to the
  largest 4-connected component of {pred >= t} and {gt >= t} together (1 when it always did).

Where we deviate from the DIM code: gradients of pred / 255 instead of MATLAB's `mat2gray` (which
rescales each matte by its own min and max; identical for any matte that spans 0..255, and a matte
that does not is not stretched); thresholds 0:0.1:1 built as i / 10 (no floating drift at t = 0.3).

The transition band (`transition_band`) is where the truth is soft, 0 < gt < 255, dilated by a disc
of radius 15 px, as stated in the data's PROVENANCE.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

GRADIENT_SIGMA = 1.4  # DIM code's sigma for the gradient error
GRADIENT_EPSILON = 1e-2  # DIM code's truncation of the Gaussian derivative kernel
CONNECTIVITY_STEP = 0.1  # DIM code's threshold step for the connectivity error
CONNECTIVITY_MIN = 0.15  # DIM code: a pixel's distance to its last connected level below this counts as 0
BAND_RADIUS = 15  # px: the transition band is 0 < gt < 255 dilated by this radius
SCALE = 1000.0  # SAD, Grad and Conn are reported in thousands, as in the DIM code


@dataclass(frozen=True)
class MatteErrors:
    """The four errors over one region (MSE as a mean, the others as sums / 1000)."""

    sad: float
    mse: float
    grad: float
    conn: float


@dataclass(frozen=True)
class MatteScore:
    """One matte against its truth: errors over the whole image and over the transition band,
    and the share of the prediction's pixels that are soft (0 < alpha < 255)."""

    whole: MatteErrors
    band: MatteErrors
    soft_share: float

    def as_dict(self) -> dict[str, float]:
        out = {
            f"{k}_{region}": getattr(getattr(self, region), k)
            for region in ("whole", "band")
            for k in ("sad", "mse", "grad", "conn")
        }
        return {**{k: round(v, 6) for k, v in out.items()}, "soft_share": round(self.soft_share, 6)}


def _unit(alpha: np.ndarray, name: str) -> np.ndarray:
    if alpha.dtype != np.uint8 or alpha.ndim != 2:
        raise ValueError(f"{name} must be a 2-D uint8 alpha, got {alpha.dtype} with shape {alpha.shape}")
    return alpha.astype(np.float64) / 255.0


def gaussian_gradient_kernel(sigma: float = GRADIENT_SIGMA, epsilon: float = GRADIENT_EPSILON) -> np.ndarray:
    """The DIM code's x-derivative kernel: gauss(row) * dgauss(col), unit L2 norm (float64, odd square)."""
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon))))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    kernel = np.outer(gauss, -u * gauss / sigma**2)
    return kernel / np.sqrt(np.sum(kernel**2))


def gradient_magnitude(x: np.ndarray, sigma: float = GRADIENT_SIGMA) -> np.ndarray:
    """|grad x| by MATLAB's imfilter(x, h, 'replicate', 'conv') with the kernel above and its transpose."""
    hx = gaussian_gradient_kernel(sigma)[::-1, ::-1]  # filter2D correlates: flip for a convolution
    gx = cv2.filter2D(x, cv2.CV_64F, hx, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(x, cv2.CV_64F, np.ascontiguousarray(hx.T), borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx**2 + gy**2)


def connectivity_phi(
    pred: np.ndarray, gt: np.ndarray, step: float = CONNECTIVITY_STEP
) -> tuple[np.ndarray, np.ndarray]:
    """(phi(pred), phi(gt)) of the connectivity error, for mattes in 0..1 (float64)."""
    levels = [i * step for i in range(round(1 / step) + 1)]
    last = np.full(pred.shape, -1.0)
    for below, t in pairwise(levels):
        both = ((pred >= t) & (gt >= t)).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        largest = np.zeros(pred.shape, bool)
        if count > 1:
            largest = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        last[(last == -1) & ~largest] = below
    last[last == -1] = 1.0

    def phi(x: np.ndarray) -> np.ndarray:
        d = x - last
        return 1 - d * (d >= CONNECTIVITY_MIN)

    return phi(pred), phi(gt)


def transition_band(gt: np.ndarray, radius: int = BAND_RADIUS) -> np.ndarray:
    """Bool mask of 0 < gt < 255 dilated by a disc of `radius` pixels."""
    soft = ((gt > 0) & (gt < 255)).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(soft, disc).astype(bool)


def _errors(terms: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], region: np.ndarray) -> MatteErrors:
    absolute, squared, grad, conn = (t[region] for t in terms)
    mse = float(squared.mean()) if squared.size else 0.0
    return MatteErrors(
        sad=float(absolute.sum() / SCALE), mse=mse, grad=float(grad.sum() / SCALE), conn=float(conn.sum() / SCALE)
    )


def score_matte(pred: np.ndarray, gt: np.ndarray, band: np.ndarray | None = None) -> MatteScore:
    """Score an 8-bit predicted alpha against an 8-bit true alpha of the same size; `band` (bool,
    same size) defaults to `transition_band(gt)`."""
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in size; score at full resolution")
    p, g = _unit(pred, "pred"), _unit(gt, "gt")
    phi_p, phi_g = connectivity_phi(p, g)
    terms = (np.abs(p - g), (p - g) ** 2, (gradient_magnitude(p) - gradient_magnitude(g)) ** 2, np.abs(phi_p - phi_g))
    region = transition_band(gt) if band is None else band
    return MatteScore(
        whole=_errors(terms, np.ones(gt.shape, bool)),
        band=_errors(terms, region),
        soft_share=float(np.count_nonzero((pred > 0) & (pred < 255)) / pred.size),
    )


def mean_scores(scores: Iterable[MatteScore]) -> dict[str, float]:
    """The per-image figures averaged over images (each image weighs the same)."""
    rows = [s.as_dict() for s in scores]
    if not rows:
        raise ValueError("no mattes to average")
    return {k: round(float(np.mean([r[k] for r in rows])), 6) for k in rows[0]}
