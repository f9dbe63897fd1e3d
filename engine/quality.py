"""The error estimate: a per-image number that predicts the cut-out's mean absolute error, so a
batch can be triaged (look at the worst first) without ground truth.

It is a log-linear model of cheap features of the model's map and of the matte:

    estimated_error = exp(intercept + sum of weight[f] * log(feature[f] + FLOOR))

fitted per model on the validation split (`python -m training error-model`: least squares on the
log of each photo's true MAE) and kept in the model's manifest (`"error_estimate"`); a model
without one uses `DEFAULT`, the fit for u2netp-int8. The features:

- soft:       mean of min(p, 1 - p) over the model's map: how much of it is undecided
- uncertain:  share of the matte strictly between 10 % and 90 % (the result's `uncertainty`)
- pieces:     connected regions of the map's foreground (p >= 0.5): fragments point at confusion
- contour:    length of the foreground's outline over the map's side: busy shapes err more at edges
- foreground: share of the map that is foreground (p >= 0.5)
- peak:       the model's strongest response before min-max normalisation (low: unsure of any subject)
- border:     share of the map's outermost pixels that are foreground: a subject the frame cuts
- band:       share of the map strictly between 2 % and 98 %: how wide the undecided fringe is
- side:       mean |finest side output - map|, for models that expose that output (their manifest's
              `output.side`): where the network's own outputs disagree, the cut-out errs. On the
              student's validation split it carried best to a left-out group of photos (Spearman
              0.642 alone vs 0.615 for `soft`, the best without it)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

FEATURES = ("soft", "uncertain", "pieces", "contour", "foreground", "peak", "border", "band", "side")
FLOOR = 1e-3  # added before the log: features that can be 0 (an empty matte) stay finite
BAND_LOW = 0.02  # the `band` feature counts map values in (BAND_LOW, 1 - BAND_LOW)


@dataclass(frozen=True)
class ErrorModel:
    """Coefficients of the log-linear error estimate (see the module docstring)."""

    intercept: float
    weights: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorModel:
        """From a manifest's `"error_estimate"` (its other keys, e.g. the fit's figures, are ignored)."""
        weights = {str(k): float(v) for k, v in dict(data["weights"]).items()}
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown error-estimate features {sorted(unknown)}; known: {', '.join(FEATURES)}")
        return cls(float(data["intercept"]), weights)

    def as_dict(self) -> dict[str, Any]:
        return {"intercept": self.intercept, "weights": dict(self.weights)}

    def estimate(self, features: Mapping[str, float]) -> float:
        """The predicted mean absolute error (0..1) of a cut-out with these features."""
        log_error = self.intercept + sum(w * math.log(features[f] + FLOOR) for f, w in self.weights.items())
        return float(min(1.0, math.exp(log_error)))


def measure(prediction: np.ndarray, peak: float, uncertain: float, side: np.ndarray | None = None) -> dict[str, float]:
    """The features of one cut-out: `prediction` is the model's float32 map (0..1) at its input
    size, `peak` its response before normalisation, `uncertain` the matte's share in (10 %, 90 %),
    `side` the finest side output like `prediction` (None: no `side` feature)."""
    foreground = (prediction >= 0.5).astype(np.uint8)
    pieces, _ = cv2.connectedComponents(foreground, connectivity=8)
    outlines, _ = cv2.findContours(foreground, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    map_side = math.sqrt(prediction.size)
    frame = np.concatenate([foreground[0], foreground[-1], foreground[1:-1, 0], foreground[1:-1, -1]])
    features = {
        "soft": float(np.minimum(prediction, 1.0 - prediction).mean()),
        "uncertain": uncertain,
        "pieces": float(pieces - 1),
        "contour": float(sum(len(c) for c in outlines)) / map_side,
        "foreground": float(foreground.mean()),
        "peak": peak,
        "border": float(frame.mean()),
        "band": float(np.count_nonzero((prediction > BAND_LOW) & (prediction < 1.0 - BAND_LOW)) / prediction.size),
    }
    if side is not None:
        features["side"] = float(cv2.absdiff(side, prediction).mean())
    return features


# The fit for u2netp-int8 (its manifest's "error_estimate", `python -m training error-model
# --model-id u2netp-int8 --run shipped`: the features chosen by held-out-group correlation); models
# without a fit of their own use it, which keeps the order of their photos, not its scale.
DEFAULT = ErrorModel(
    intercept=2.1625,
    weights={"uncertain": 0.4484, "pieces": 0.0189, "contour": -0.8171, "border": 0.1197, "band": 0.9229},
)
