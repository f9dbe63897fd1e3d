"""Fitting the per-image error estimate (engine/quality.py) of one engine model.

Each validation photo is cut out by the engine with the CLI's defaults; its features (the result's
`quality_features`) and its true MAE (against ground truth, or the teacher for unlabelled photos)
make one row. The estimate is least squares of log(MAE) on log(feature + FLOOR) over every row,
so it is fitted where every other choice is made; the dev sets are only reported. What matters to
a user triaging a batch is the order, so the figures are Spearman rank correlations per group.

Which features enter is chosen by how the fit carries to photos of another kind: every subset of
up to MAX_FEATURES of FEATURES is fitted on all validation groups but one and scored on the one
left out; the subset with the best mean held-out catch rate plus Spearman wins (`carried`; the
first six fitted together carried worst: 0.23 on the `train` group's photos when fitted on the
others). The catch rate is the triage goal: of a set's tenth with the highest true MAE, the share
a user sees who looks at the fifth with the highest estimate (`catch_rate`).

A handful of validation photos (a fine-tune's few held out) cannot carry a fit: on the 5 of the
README's people fine-tune, all eight features were kept (Spearman 1.0 in-sample, 0.50 on dev/davis),
while the engine's default fit scored 0.62-0.73 on every dev set for that model. Below
MIN_FIT_PHOTOS the default fit is kept.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.stats import ConstantInputWarning, spearmanr

from bench.contenders import decode_gray
from bench.metrics import score_image
from engine.quality import DEFAULT, FEATURES, FLOOR, ErrorModel

from .data import Example, read_gray
from .progress import Progress
from .validate import engine_cutter

MAE_FLOOR = 1e-4  # a perfect cut-out (MAE 0) still has a finite log
MIN_FIT_PHOTOS = 30  # fewer validation photos than this keep the engine's default fit
WORST_SHARE = 0.1  # the triage goal: of the photos with the highest true MAE (this share of a set) ...
FLAGGED_SHARE = 0.2  # ... at least half are among this share with the highest estimate
MAX_FEATURES = 4  # subsets searched: 1,940 of 15 features; more overfit ~100-300 validation photos


@dataclass(frozen=True)
class Row:
    group: str
    features: dict[str, float]
    mae: float


def cutout_rows(
    model_id: str,
    models_dir: Path,
    photos: Iterable[tuple[str, bytes, np.ndarray]],
    total: int,
    more: Callable[[bytes], dict[str, float]] | None = None,
) -> list[Row]:
    """One row per (group, encoded photo, reference mask), through the engine's mask output; `more`
    adds features of the encoded photo beside the engine's (a study's candidates)."""
    cut = engine_cutter(model_id, models_dir)
    progress = Progress(f"error rows {model_id}", total, every=50)
    rows = []
    for group, data, reference in photos:
        cutout = cut(data)
        features = dict(cutout.quality_features) | (more(data) if more else {})
        rows.append(Row(group, features, score_image(decode_gray(cutout.data), reference).mae))
        progress.step()
    return rows


def validation_photos(groups: dict[str, list[Example]]) -> Iterable[tuple[str, bytes, np.ndarray]]:
    for name, examples in groups.items():
        for e in examples:
            yield name, e.image.read_bytes(), read_gray(e.truth or e.teacher)


def design(rows: Sequence[Row], features: Sequence[str]) -> np.ndarray:
    """The regression's inputs: a column of ones, then log(feature + FLOOR) per feature."""
    logs = [[np.log(r.features[f] + FLOOR) for f in features] for r in rows]
    return np.column_stack([np.ones(len(rows)), np.asarray(logs).reshape(len(rows), len(features))])


def present_features(rows: Sequence[Row]) -> tuple[str, ...]:
    """The FEATURES every row has (`side` only comes from models that expose a side output)."""
    return tuple(f for f in FEATURES if all(f in r.features for r in rows))


def fit(rows: Sequence[Row], features: Sequence[str] | None = None, ridge: float = 1e-3) -> ErrorModel:
    """Least squares (a little ridge, for collinear features) of log(MAE) on the log features
    (by default every feature the rows have)."""
    features = present_features(rows) if features is None else features
    x = design(rows, features)
    y = np.log(np.asarray([r.mae for r in rows]) + MAE_FLOOR)
    penalty = ridge * len(rows) * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    return ErrorModel(float(coef[0]), {f: float(w) for f, w in zip(features, coef[1:], strict=True)})


def catch_rate(estimates: Sequence[float], maes: Sequence[float]) -> float:
    """The triage goal's measure: the share of the WORST_SHARE photos by true MAE (rounded up, at
    least one) that are among the FLAGGED_SHARE highest by estimate (rounded down, at least one),
    i.e. that a user who looks at the flagged fifth of a batch sees. Ties keep the rows' order."""
    if len(estimates) != len(maes):
        raise ValueError(f"estimates and MAEs must be of the same photos: {len(estimates)} vs {len(maes)}")
    worst = max(1, math.ceil(WORST_SHARE * len(maes) - 1e-9))
    flagged = max(1, math.floor(FLAGGED_SHARE * len(maes) + 1e-9))
    truly = set(np.argsort(-np.asarray(maes, float), kind="stable")[:worst].tolist())
    seen = set(np.argsort(-np.asarray(estimates, float), kind="stable")[:flagged].tolist())
    return len(truly & seen) / worst


def _spearman(estimates: Sequence[float], maes: Sequence[float]) -> float:
    with warnings.catch_warnings():  # a constant estimate (a one-feature fit on a flat feature) has no order
        warnings.simplefilter("ignore", ConstantInputWarning)
        return float(spearmanr(estimates, maes)[0])


def _by_group(rows: Sequence[Row]) -> dict[str, list[Row]]:
    by_group: dict[str, list[Row]] = {}
    for r in rows:
        by_group.setdefault(r.group, []).append(r)
    return by_group | {"all": list(rows)}


def triage(model: ErrorModel, rows: Sequence[Row]) -> dict[str, dict[str, float]]:
    """Per group and over all rows: how well the estimate triages, as `catch_rate` ("catch") and
    Spearman's rank correlation with the true MAE ("spearman"); groups of under 3 photos are left out."""
    result: dict[str, dict[str, float]] = {}
    for group, members in _by_group(rows).items():
        estimates, maes = [model.estimate(r.features) for r in members], [r.mae for r in members]
        rho = _spearman(estimates, maes)
        if len(members) > 2 and np.isfinite(rho):
            result[group] = {"catch": round(catch_rate(estimates, maes), 3), "spearman": round(rho, 3)}
    return result


def correlations(model: ErrorModel, rows: Sequence[Row]) -> dict[str, float]:
    """Spearman's rank correlation of the estimate with the true MAE, per group and over all rows."""
    return {group: figures["spearman"] for group, figures in triage(model, rows).items()}


def catch_rates(model: ErrorModel, rows: Sequence[Row]) -> dict[str, float]:
    """The estimate's `catch_rate`, per group and over all rows."""
    return {group: figures["catch"] for group, figures in triage(model, rows).items()}


def held_out_triage(rows: Sequence[Row], features: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Each validation group's `triage` by a fit on the other groups: how the estimate carries to
    photos of a kind it was not fitted on."""
    groups = sorted({r.group for r in rows})
    result = {}
    for group in groups if len(groups) > 1 else ():
        model = fit([r for r in rows if r.group != group], features)
        result |= triage(model, [r for r in rows if r.group == group])
    result.pop("all", None)
    return result


def held_out_correlations(rows: Sequence[Row], features: Sequence[str] | None = None) -> dict[str, float]:
    """The Spearman of `held_out_triage`, per group."""
    return {group: figures["spearman"] for group, figures in held_out_triage(rows, features).items()}


def held_out_catch_rates(rows: Sequence[Row], features: Sequence[str] | None = None) -> dict[str, float]:
    """The catch rate of `held_out_triage`, per group."""
    return {group: figures["catch"] for group, figures in held_out_triage(rows, features).items()}


def carried(held_out: dict[str, dict[str, float]]) -> float:
    """What `choose_features` maximises: the mean over held-out groups of catch rate plus Spearman.
    The catch rate is the triage goal; Spearman breaks its coarse steps (3 photos are a small
    group's worst tenth) and keeps the rest of the order honest."""
    if not held_out:
        return -2.0
    return float(np.mean([figures["catch"] + figures["spearman"] for figures in held_out.values()]))


def choose_features(rows: Sequence[Row], most: int = MAX_FEATURES) -> tuple[str, ...]:
    """The subset (of at most `most`) of the FEATURES every row has whose fit carries best to a
    left-out group (`carried`; ties to the smaller subset). With a single group there is nothing
    to carry to: all of them."""
    present = present_features(rows)
    if len({r.group for r in rows}) < 2:
        return present
    subsets = [c for n in range(1, min(most, len(present)) + 1) for c in itertools.combinations(present, n)]
    return max(subsets, key=lambda subset: (round(carried(held_out_triage(rows, subset)), 3), -len(subset)))


def fitted_estimate(rows: Sequence[Row]) -> tuple[ErrorModel, tuple[str, ...], str]:
    """The estimate for these validation rows, its features and what it was fitted on: the rows' own
    fit on the features `choose_features` picks, or the engine's default fit when there are fewer
    than MIN_FIT_PHOTOS rows."""
    if len(rows) < MIN_FIT_PHOTOS:
        words = f"the engine's default fit (engine/quality.py): {len(rows)} photos are fewer than {MIN_FIT_PHOTOS}"
        return DEFAULT, tuple(DEFAULT.weights), words
    features = choose_features(rows)
    return fit(rows, features), features, f"validation split ({len(rows)} photos)"


def save_rows(path: Path, rows: Sequence[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in rows]) + "\n")


def load_rows(path: Path) -> list[Row] | None:
    return [Row(**r) for r in json.loads(path.read_text())] if path.is_file() else None
