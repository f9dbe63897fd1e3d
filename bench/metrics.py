"""Saliency-mask quality metrics: MAE, max F-beta and mean IoU, as in the rembg baseline.

Convention (reproduces shared/reference/rembg-baseline.md to 4 decimals on dev/horse and dev/sod):
- prediction and ground truth are 8-bit masks of the same (full-resolution) size, scaled to 0..1 by /255;
- MAE is mean |pred - gt| per image on those soft values, then the mean over images;
- ground truth is binarised at gt >= 0.5 (gt >= 128) for F-beta and IoU;
- F-beta uses 256 thresholds t = 0..255 with pred >= t; precision and recall are computed per image
  (precision 0 when nothing is predicted positive), averaged over the images per threshold, then
  F = (1 + b2) P R / (b2 P + R) with b2 = 0.3, and the maximum over thresholds is reported;
- IoU is |pred >= 0.5 and gt| / |pred >= 0.5 or gt| per image (pred >= 128; 1.0 when both are empty),
  then the mean over images.

What decides the match (checked on all 12 figures): F-beta from the *mean* P/R curve (the mean of
per-image F curves gives 0.9485 instead of 0.9513 on horse/u2netp, 0.8133 instead of 0.8395 on
sod/u2netp); IoU with pred >= 128 (pred > 128 gives 0.8895, pred >= 127 0.8893 on horse/u2netp).
Not visible at 4 decimals: pred >= t vs pred > t, GT >= 128 vs > 128 vs > 0, and precision 0, 1 or
tp / (tp + fp + eps) where nothing is predicted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

BETA2 = 0.3
LEVELS = 256  # thresholds t = 0..255 on 8-bit masks
HALF = 128  # a value v counts as foreground when v / 255 >= 0.5


@dataclass(frozen=True)
class ImageScore:
    """One image's contribution: its MAE, IoU and precision/recall at every threshold."""

    mae: float
    iou: float
    precision: np.ndarray  # float64[256], precision of pred >= t
    recall: np.ndarray  # float64[256], recall of pred >= t


@dataclass(frozen=True)
class SetScore:
    """Metrics of one model on one set of images."""

    n: int
    mae: float
    max_fbeta: float
    miou: float
    best_threshold: int  # the t (0..255) at which F-beta peaks

    def as_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "mae": round(self.mae, 6),
            "max_fbeta": round(self.max_fbeta, 6),
            "miou": round(self.miou, 6),
            "best_threshold": self.best_threshold,
        }


def _as_u8(mask: np.ndarray, name: str) -> np.ndarray:
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"{name} must be a 2-D uint8 mask, got {mask.dtype} with shape {mask.shape}")
    return mask


def score_image(pred: np.ndarray, gt: np.ndarray) -> ImageScore:
    """Score an 8-bit predicted mask against an 8-bit ground-truth mask of the same size."""
    pred, gt = _as_u8(pred, "pred"), _as_u8(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in size; score at full resolution")
    mae = float(np.abs(pred.astype(np.int16) - gt.astype(np.int16)).mean() / 255.0)
    positive = gt >= HALF
    hist_pos = np.bincount(pred[positive], minlength=LEVELS)
    hist_neg = np.bincount(pred[~positive], minlength=LEVELS)
    true_pos = np.cumsum(hist_pos[::-1])[::-1].astype(np.float64)  # pixels with pred >= t, per t
    false_pos = np.cumsum(hist_neg[::-1])[::-1].astype(np.float64)
    predicted = true_pos + false_pos
    precision = np.divide(true_pos, predicted, out=np.zeros(LEVELS), where=predicted > 0)
    recall = true_pos / max(int(positive.sum()), 1)
    fg = pred >= HALF
    union = int(np.count_nonzero(fg | positive))
    iou = np.count_nonzero(fg & positive) / union if union else 1.0
    return ImageScore(mae=mae, iou=float(iou), precision=precision, recall=recall)


def fbeta_curve(precision: np.ndarray, recall: np.ndarray, beta2: float = BETA2) -> np.ndarray:
    """F-beta at each threshold from (mean) precision and recall; 0 where both are 0."""
    denom = beta2 * precision + recall
    return np.divide((1 + beta2) * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)


def summarise(scores: Iterable[ImageScore]) -> SetScore:
    """Combine per-image scores into the set's MAE, max F-beta (of mean P/R) and mean IoU."""
    items = list(scores)
    if not items:
        raise ValueError("no images to summarise")
    precision = np.mean([s.precision for s in items], axis=0)
    recall = np.mean([s.recall for s in items], axis=0)
    curve = fbeta_curve(precision, recall)
    best = int(np.argmax(curve))
    return SetScore(
        n=len(items),
        mae=float(np.mean([s.mae for s in items])),
        max_fbeta=float(curve[best]),
        miou=float(np.mean([s.iou for s in items])),
        best_threshold=best,
    )
