"""The per-image error estimate: its features, its formula, its fit and where it is carried."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import engine
from engine.quality import DEFAULT, FEATURES, FLOOR, SIDE_FEATURES, ErrorModel, measure
from tests.synthetic import encode, scene
from training.error_model import (
    MIN_FIT_PHOTOS,
    Row,
    catch_rate,
    choose_features,
    correlations,
    fit,
    fitted_estimate,
    held_out_correlations,
    triage,
)


def test_estimate_is_the_log_linear_formula() -> None:
    model = ErrorModel(-2.0, {"soft": 0.5, "pieces": 0.25})
    features = {"soft": 0.04, "pieces": 3.0}
    expected = math.exp(-2.0 + 0.5 * math.log(0.04 + FLOOR) + 0.25 * math.log(3.0 + FLOOR))
    assert model.estimate(features) == pytest.approx(expected)
    assert ErrorModel(5.0, {}).estimate({}) == 1.0  # an error is at most 1


def test_a_manifest_naming_an_unknown_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown error-estimate features"):
        ErrorModel.from_dict({"intercept": 0.0, "weights": {"sharpness": 1.0}})
    kept = ErrorModel.from_dict({"intercept": -1.5, "weights": {"soft": 2}, "figures": {"ignored": 1}})
    assert kept == ErrorModel(-1.5, {"soft": 2.0})


def test_features_of_a_clean_map_and_of_a_confused_one() -> None:
    clean = np.zeros((100, 100), np.float32)
    cv2.circle(clean, (50, 50), 20, 1.0, -1)
    confused = np.full((100, 100), 0.45, np.float32)
    confused[10:20, 10:20] = confused[70:90, 60:80] = 0.9
    a, b = measure(clean, peak=1.0, uncertain=0.0), measure(confused, peak=0.3, uncertain=0.5)
    assert set(a) == set(FEATURES) - set(SIDE_FEATURES)  # a model without side outputs has no `side`, `side4`
    assert a["soft"] == 0.0 and a["pieces"] == 1 and a["foreground"] == pytest.approx(np.pi * 0.04, rel=0.1)
    assert a["contour"] == pytest.approx(2 * np.pi * 20 / 100, rel=0.25)  # a circle's outline over the side
    assert b["soft"] > 0.3 and b["pieces"] == 2 and b["peak"] == 0.3
    assert a["border"] == 0.0 and a["band"] < 0.001 and b["band"] == 1.0  # nothing in it is decided
    cut = np.zeros((100, 100), np.float32)
    cut[60:, 25:75] = 1.0  # a subject standing on the bottom edge: half of that edge, an eighth of the frame
    assert measure(cut, peak=1.0, uncertain=0.0)["border"] == pytest.approx(50 / 396, abs=0.01)


def test_side_is_how_far_the_finest_side_output_is_from_the_fused_map() -> None:
    fused = np.zeros((100, 100), np.float32)
    fused[20:80, 20:80] = 1.0
    agreeing, disagreeing = fused.copy(), fused.copy()
    agreeing[20:80, 20] = 0.5  # the side output only softens one column of the outline
    disagreeing[20:50, 20:80] = 0.0  # the side output sees only half of the subject
    assert measure(fused, 1.0, 0.0, {"side": fused})["side"] == 0.0
    assert measure(fused, 1.0, 0.0, {"side": agreeing})["side"] == pytest.approx(30 / 10000)
    both = measure(fused, 1.0, 0.0, {"side": agreeing, "side4": disagreeing})
    assert (both["side"], both["side4"]) == pytest.approx((30 / 10000, 0.18))  # each side output its own feature


def test_choose_features_only_considers_what_every_row_has() -> None:
    rng = np.random.default_rng(2)
    rows = _rows(rng, 60, "a") + _rows(rng, 60, "b")
    without_side = [Row(r.group, {f: v for f, v in r.features.items() if f != "side"}, r.mae) for r in rows]
    assert "side" not in choose_features(without_side[:40] + without_side[60:100])
    model, features, _ = fitted_estimate(without_side)
    assert "side" not in features and model.estimate(without_side[0].features) > 0


def _rows(rng: np.random.Generator, n: int, group: str) -> list[Row]:
    rows = []
    for _ in range(n):
        features = {f: float(rng.uniform(0.1, 1.0)) for f in FEATURES}
        mae = math.exp(-3.0 + 1.2 * math.log(features["soft"] + FLOOR) + 0.4 * math.log(features["pieces"] + FLOOR))
        rows.append(Row(group, features, mae * float(np.exp(rng.normal(0, 0.05)))))
    return rows


def test_fit_recovers_the_coefficients_that_made_the_errors() -> None:
    rng = np.random.default_rng(0)
    rows = _rows(rng, 200, "a") + _rows(rng, 200, "b")
    model = fit(rows, ridge=0.0)
    assert model.intercept == pytest.approx(-3.0, abs=0.1)
    assert model.weights["soft"] == pytest.approx(1.2, abs=0.05) and model.weights["pieces"] == pytest.approx(
        0.4, abs=0.05
    )
    assert abs(model.weights["contour"]) < 0.05
    rho = correlations(model, rows)
    assert set(rho) == {"a", "b", "all"} and min(rho.values()) > 0.95
    assert set(held_out_correlations(rows)) == {"a", "b"}


def test_a_handful_of_validation_photos_keeps_the_default_fit_instead_of_fitting_every_feature() -> None:
    rng = np.random.default_rng(1)
    few = _rows(rng, MIN_FIT_PHOTOS - 1, "mine")  # e.g. a fine-tune's 5 held-out photos
    model, features, fitted_on = fitted_estimate(few)
    assert model == DEFAULT and features == tuple(DEFAULT.weights)
    assert f"{MIN_FIT_PHOTOS - 1} photos" in fitted_on and "default" in fitted_on
    enough = _rows(rng, 100, "a") + _rows(rng, 100, "b")
    model, features, fitted_on = fitted_estimate(enough)
    assert model != DEFAULT and set(model.weights) == set(features) and "soft" in features
    assert fitted_on == "validation split (200 photos)"


def test_the_estimate_is_a_finding_of_every_cutout() -> None:
    cutout = engine.remove_background(encode(scene(320, 240, seed=4)[0]))
    assert set(cutout.quality_features) == set(FEATURES)  # the default model exposes its side outputs
    assert 0 < cutout.estimated_error <= 1
    assert cutout.findings()["estimated_error"] == round(cutout.estimated_error, 4)


def test_catch_rate_is_the_share_of_the_worst_tenth_among_the_highest_fifth_estimated() -> None:
    mae = [float(i) for i in range(20)]  # the worst tenth: photos 18 and 19; the highest fifth: 4 photos
    assert catch_rate(mae, mae) == 1.0  # a perfect estimate catches both
    assert catch_rate([-m for m in mae], mae) == 0.0  # a reversed one neither
    estimate = [0.0] * 20
    estimate[19], estimate[3], estimate[2], estimate[1] = 9.0, 8.0, 7.0, 6.0  # 18 misses the top four
    assert catch_rate(estimate, mae) == 0.5
    thirty_one = [float(i) for i in range(31)]  # the worst tenth rounds up (4: 27..30), the fifth down (6: 25..30)
    assert catch_rate(thirty_one, thirty_one) == 1.0
    assert catch_rate([0.0 if i == 27 else m for i, m in enumerate(thirty_one)], thirty_one) == 0.75
    assert catch_rate([1.0, 2.0], [2.0, 1.0]) == 0.0 and catch_rate([1.0], [1.0]) == 1.0  # at least one of each
    with pytest.raises(ValueError, match="same photos"):
        catch_rate([1.0], [1.0, 2.0])


def test_triage_reports_catch_rate_and_spearman_per_group() -> None:
    rows = [Row("a", {"soft": float(i)}, float(i)) for i in range(1, 21)]
    rows += [Row("b", {"soft": 20.75 - i}, i + 0.5) for i in range(1, 21)]  # b's estimate is reversed
    model = ErrorModel(-5.0, {"soft": 1.0})
    table = triage(model, rows)
    assert table["a"] == {"catch": 1.0, "spearman": 1.0} and table["b"] == {"catch": 0.0, "spearman": -1.0}
    assert set(table) == {"a", "b", "all"} and table["all"]["catch"] == 0.5  # a's two of the worst four
    assert correlations(model, rows) == {group: figures["spearman"] for group, figures in table.items()}


def test_loss_features_see_a_subject_the_map_half_lost() -> None:
    whole = np.zeros((100, 100), np.float32)
    whole[20:80, 30:70] = 1.0
    faint = whole * 0.3  # the model half-sees a body ...
    faint[30:40, 40:60] = 1.0  # ... around the eyes it kept
    a, b = measure(whole, 1.0, 0.0), measure(faint, 1.0, 0.0)
    assert a["faint"] == 0.0 and b["faint"] == pytest.approx(1 - 200 / 2400)
    assert a["hull"] == a["scattered"] == a["holes"] == a["weak"] == a["edge"] == 0.0
    assert b["weak"] == 0.0  # what it kept it believes in
    hollow = whole.copy()
    hollow[40:60, 40:60] = 0.0  # a lost middle: a hole, so the hull is a fifth empty too
    assert measure(hollow, 1.0, 0.0)["holes"] == pytest.approx(400 / 2400)
    assert measure(hollow, 1.0, 0.0)["hull"] == pytest.approx(400 / 2400, abs=0.01)
    split = whole.copy()
    split[20:80, 45:55] = 0.0  # two halves with a gap: no hole, but an emptier hull
    assert measure(split, 1.0, 0.0)["holes"] == 0.0 and measure(split, 1.0, 0.0)["hull"] > 0.15
    fragments = whole.copy()
    fragments[5:10, 5:10] = 1.0  # a speck beside the subject
    assert measure(fragments, 1.0, 0.0)["scattered"] == pytest.approx(25 / 2425)
    unsure = whole * 0.7  # a subject barely over the cut, standing on the bottom edge
    unsure[80:, 30:70] = 0.7
    c = measure(unsure, 1.0, 0.0)
    assert c["weak"] == 1.0 and c["edge"] == pytest.approx(0.7 * 40 / 396, rel=0.01)


def test_an_empty_map_has_lost_everything() -> None:
    features = measure(np.zeros((50, 50), np.float32), 0.1, 0.0)
    assert features["faint"] == 0.0 and features["hull"] == features["scattered"] == features["weak"] == 1.0


def test_an_old_manifests_fit_estimates_as_before() -> None:
    old = {"intercept": 2.1625, "weights": {"uncertain": 0.4484, "contour": -0.8171, "band": 0.9229}}
    features = measure(np.full((40, 40), 0.6, np.float32), 1.0, 0.2)
    expected = math.exp(2.1625 + sum(w * math.log(features[f] + FLOOR) for f, w in old["weights"].items()))
    assert ErrorModel.from_dict(old).estimate(features) == pytest.approx(min(1.0, expected))
