"""Edges as a user sees them: the cut-out composited onto a plain background, against the same
composite made from the true alpha.

Binary masks cannot rank soft edges, and most of whole-image SAD on the matting photos is which
object is the subject; what a user judges is the cut-out on a page. So, per photo:

- the true foreground colours are estimated from the photo and its true alpha (pymatting's
  `estimate_foreground_ml`, Germer et al., "Fast multi-level foreground estimation", ICPR 2020);
- the cut-out (its RGBA output, decontaminated colours included) and the truth are composited onto
  white and onto black, each rounded to 8-bit levels as a viewer shows them;
- the error is the mean absolute difference in 8-bit levels over the pixels and channels of a
  region (the transition band: 0 < alpha < 255 dilated 15 px, or the whole image), averaged over
  the two backgrounds. A rim of a dark background shows on white, of a light one on black.

"Edge photos" are those whose subject every product compared gets right (alpha >= 128 against the truth's,
IoU at least `SUBJECT_IOU`): there only the edges differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .matting_metrics import transition_band

BACKGROUNDS = (255.0, 0.0)  # white and black grey levels: every background tint shows on one of them
SUBJECT_IOU = 0.9  # IoU of alpha >= 128 with the truth's from which a contender "has the subject right"
FOREGROUND_REGULARIZATION = 1e-5  # pymatting's default for estimate_foreground_ml


@dataclass(frozen=True)
class CompositeErrors:
    """Mean absolute composite difference (8-bit levels, white and black averaged) over the band
    and over the whole image."""

    band: float
    whole: float

    def as_dict(self) -> dict[str, float]:
        return {"composite_band": round(self.band, 4), "composite_whole": round(self.whole, 4)}


def composite(colour: np.ndarray, alpha: np.ndarray, background: float) -> np.ndarray:
    """HxWx3 colour (0..255, any dtype) over a plain grey level with an 8-bit HxW alpha, rounded to
    8-bit levels (float64)."""
    a = alpha[..., None].astype(np.float64) / 255
    rounded: np.ndarray = np.floor(background + a * (colour.astype(np.float64) - background) + 0.5)
    return rounded


def composite_error(rgba: np.ndarray, truth_colour: np.ndarray, truth_alpha: np.ndarray, region: np.ndarray) -> float:
    """The mean over white and black of the mean |cut-out composite - truth composite| over `region`."""
    errors = [
        np.abs(composite(rgba[..., :3], rgba[..., 3], bg) - composite(truth_colour, truth_alpha, bg))[region].mean()
        for bg in BACKGROUNDS
    ]
    return float(np.mean(errors))


def score_composite(
    rgba: np.ndarray, truth_colour: np.ndarray, truth_alpha: np.ndarray, band: np.ndarray | None = None
) -> CompositeErrors:
    """An RGBA cut-out (uint8, the photo's size) against the true colours and alpha; `band` (bool)
    defaults to the true alpha's transition band."""
    if rgba.shape[:2] != truth_alpha.shape:
        raise ValueError(f"cut-out {rgba.shape} and truth {truth_alpha.shape} differ in size")
    region = transition_band(truth_alpha) if band is None else band
    whole = np.ones(truth_alpha.shape, bool)
    return CompositeErrors(
        band=composite_error(rgba, truth_colour, truth_alpha, region),
        whole=composite_error(rgba, truth_colour, truth_alpha, whole),
    )


def true_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The subject's colours (HxWx3 float64, 0..255, channels as given) estimated from the photo
    and its true alpha by pymatting's multi-level foreground estimation."""
    from pymatting import estimate_foreground_ml  # noqa: PLC0415 (a bench requirement, loaded when scoring)

    image, a = rgb.astype(np.float64) / 255, alpha.astype(np.float64) / 255
    foreground = estimate_foreground_ml(image, a, regularization=FOREGROUND_REGULARIZATION)
    return np.clip(np.asarray(foreground, np.float64) * 255, 0, 255)


def subject_iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    """IoU of alpha >= 128 with truth >= 128 (1.0 when both are empty)."""
    ours, theirs = alpha >= 128, truth >= 128
    union = np.count_nonzero(ours | theirs)
    return float(np.count_nonzero(ours & theirs) / union) if union else 1.0


def edge_photos(ious: Mapping[str, Mapping[str, float]], min_iou: float = SUBJECT_IOU) -> list[str]:
    """The photos (in order) on which every contender's subject IoU is at least `min_iou`;
    `ious` maps contender -> photo -> IoU."""
    rows = list(ious.values())
    photos = list(dict.fromkeys(stem for row in rows for stem in row))
    return [stem for stem in photos if all(row.get(stem, 0.0) >= min_iou for row in rows)]
