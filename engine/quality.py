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
- faint:      share of the map's area at p >= 0.1 that is not foreground (p >= 0.5): a subject the
              model half-sees (a cat's body around the eyes it kept)
- hull:       share of the foreground's convex hull that is not foreground: a lost middle, a gap
- scattered:  share of the foreground outside its largest connected piece: a subject in fragments
- holes:      share of the filled subject that is holes (background regions touching no edge)
- weak:       share of the foreground the map gives under 0.9: a subject it barely believes in
- edge:       mean of the map on its outermost pixels: mass the frame cuts, decided or not
- side:       mean |finest side output - map|, for models that expose that output (their manifest's
              `output.side`): where the network's own outputs disagree, the cut-out errs. On the
              student's validation split it carried best to a left-out group of photos (Spearman
              0.642 alone vs 0.615 for `soft`, the best without it)
- side4:      mean |fourth side output - map| (`output.side4`), of U²-Net's six from the finest: a
              coarser, more global view of what the subject is. Beside `side` it sees salient-object
              photos where the map is confident and picked another object
              (`python -m studies.triage_features`)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

FEATURES = (
    "soft",
    "uncertain",
    "pieces",
    "contour",
    "foreground",
    "peak",
    "border",
    "band",
    "side",
    "faint",
    "hull",
    "scattered",
    "holes",
    "weak",
    "edge",
    "side4",
)
SIDE_FEATURES = ("side", "side4")  # from side outputs a model exposes (its manifest's output.side, output.side4)
FLOOR = 1e-3  # added before the log: features that can be 0 (an empty matte) stay finite
BAND_LOW = 0.02  # the `band` feature counts map values in (BAND_LOW, 1 - BAND_LOW)
FAINT_LOW = 0.1  # the `faint` feature: the area the map gives at least this, against its area at 0.5
WEAK_BELOW = 0.9  # the `weak` feature: foreground pixels the map gives less than this


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


def measure(
    prediction: np.ndarray, peak: float, uncertain: float, sides: Mapping[str, np.ndarray] | None = None
) -> dict[str, float]:
    """The features of one cut-out: `prediction` is the model's float32 map (0..1) at its input
    size, `peak` its response before normalisation, `uncertain` the matte's share in (10 %, 90 %),
    `sides` the side outputs the model exposes, like `prediction`, by feature (SIDE_FEATURES)."""
    foreground = (prediction >= 0.5).astype(np.uint8)
    pieces, _, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    outlines, _ = cv2.findContours(foreground, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    map_side = math.sqrt(prediction.size)
    frame = frame_pixels(foreground)
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
    features |= _loss(prediction, foreground, stats[1:, cv2.CC_STAT_AREA])
    for name, side in (sides or {}).items():
        features[name] = float(cv2.absdiff(side, prediction).mean())
    return features


def frame_pixels(image: np.ndarray) -> np.ndarray:
    """The outermost pixels of a 2-D array, each once."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def faint_share(prediction: np.ndarray, area: int | None = None) -> float:
    """The `faint` feature: the share of the map's area at p >= FAINT_LOW that is not foreground
    (p >= 0.5; `area`, that foreground's pixel count, when the caller has it); 0 for a map with no
    such area."""
    low_area = int(np.count_nonzero(prediction >= FAINT_LOW))
    if area is None:
        area = int(np.count_nonzero(prediction >= 0.5))
    return 1.0 - area / low_area if low_area else 0.0


def _loss(prediction: np.ndarray, foreground: np.ndarray, pieces: np.ndarray) -> dict[str, float]:
    """The features that see a lost subject rather than an unsure one (see the module docstring);
    `foreground` is the map's uint8 0/1 at 0.5, `pieces` the areas of its 8-connected pieces. An
    empty foreground has lost everything: 1 each."""
    area = int(np.count_nonzero(foreground))
    features = {"faint": faint_share(prediction, area), "edge": float(frame_pixels(prediction).mean())}
    if area == 0:
        return features | {"hull": 1.0, "scattered": 1.0, "holes": 1.0, "weak": 1.0}
    hull = np.zeros_like(foreground)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(foreground)), 1)
    background = 1 - foreground  # its regions that touch no edge of the map are holes in the subject
    regions, labels, sizes, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    inside = np.ones(regions, bool)
    inside[0] = False  # label 0 is the foreground itself
    inside[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = False
    holes = int(sizes[inside, cv2.CC_STAT_AREA].sum())
    return features | {
        "hull": 1.0 - area / max(int(np.count_nonzero(hull)), area),
        "scattered": 1.0 - int(pieces.max()) / area,
        "holes": holes / (area + holes),
        "weak": int(np.count_nonzero(prediction[foreground > 0] < WEAK_BELOW)) / area,
    }


# The fit for u2netp-int8 (its manifest's "error_estimate", `python -m training error-model
# --model-id u2netp-int8 --run shipped`: the features chosen by held-out-group correlation); models
# without a fit of their own use it, which keeps the order of their photos, not its scale.
DEFAULT = ErrorModel(
    intercept=2.1625,
    weights={"uncertain": 0.4484, "pieces": 0.0189, "contour": -0.8171, "border": 0.1197, "band": 0.9229},
)
