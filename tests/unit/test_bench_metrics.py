"""The benchmark's quality metrics on masks small enough to check by hand."""

import numpy as np
import pytest

from bench.metrics import fbeta_curve, score_image, summarise


def mask(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


GT = mask([[255, 255], [0, 0]])


def test_perfect_prediction_scores_best_on_every_metric() -> None:
    result = summarise([score_image(GT, GT)])
    assert result.mae == 0.0
    assert result.miou == 1.0
    assert result.max_fbeta == pytest.approx(1.0)


def test_mae_uses_soft_values_scaled_to_one() -> None:
    pred = mask([[255, 204], [51, 0]])  # errors 0, 0.2, 0.2, 0
    assert score_image(pred, GT).mae == pytest.approx(0.1)


def test_iou_binarises_prediction_at_half() -> None:
    pred = mask([[128, 127], [128, 0]])  # 128/255 >= 0.5 counts, 127 does not
    # foreground {(0,0), (1,0)} vs truth {(0,0), (0,1)}: 1 shared of 3
    assert score_image(pred, GT).iou == pytest.approx(1 / 3)


def test_empty_prediction_and_truth_count_as_perfect_iou() -> None:
    empty = mask([[0, 0], [0, 0]])
    assert score_image(empty, empty).iou == 1.0


def test_ground_truth_binarised_at_half_for_fbeta_and_iou() -> None:
    soft_gt = mask([[128, 127], [0, 0]])  # only the 128 pixel is foreground
    pred = mask([[255, 0], [0, 0]])
    score = score_image(pred, soft_gt)
    assert score.iou == 1.0
    assert score.precision[255] == 1.0 and score.recall[255] == 1.0


def test_precision_recall_per_threshold_use_pred_at_or_above_t() -> None:
    pred = mask([[200, 100], [100, 0]])
    score = score_image(pred, GT)
    # t = 0: everything predicted -> P = 2/4, R = 1
    assert (score.precision[0], score.recall[0]) == (0.5, 1.0)
    # t = 100: three pixels, two of them true -> P = 2/3, R = 1
    assert score.precision[100] == pytest.approx(2 / 3) and score.recall[100] == 1.0
    # t = 101..200: one pixel, true -> P = 1, R = 1/2
    assert (score.precision[200], score.recall[200]) == (1.0, 0.5)
    # t = 201: nothing predicted -> precision 0 by convention, recall 0
    assert (score.precision[201], score.recall[201]) == (0.0, 0.0)


def test_fbeta_weights_precision_with_beta_squared_point_three() -> None:
    curve = fbeta_curve(np.array([0.5, 0.0]), np.array([1.0, 0.0]))
    assert curve[0] == pytest.approx(1.3 * 0.5 / (0.3 * 0.5 + 1.0))
    assert curve[1] == 0.0


def test_max_fbeta_comes_from_mean_precision_recall_not_mean_f() -> None:
    good = score_image(GT, GT)
    bad = score_image(mask([[0, 0], [255, 255]]), GT)
    result = summarise([good, bad])
    # at t >= 1: P = (1 + 0) / 2, R = (1 + 0) / 2 -> F = 0.5 (mean of per-image F would also be 0.5);
    # at t = 0: P = 0.5, R = 1 for both -> F = 1.3 * 0.5 / 1.15
    assert result.max_fbeta == pytest.approx(1.3 * 0.5 / 1.15)
    assert result.best_threshold == 0
    assert result.n == 2 and result.mae == pytest.approx(0.5) and result.miou == pytest.approx(0.5)


def test_sizes_must_match() -> None:
    with pytest.raises(ValueError, match="full resolution"):
        score_image(mask([[0, 0]]), GT)


def test_masks_must_be_8_bit() -> None:
    with pytest.raises(ValueError, match="uint8"):
        score_image(GT.astype(np.float32), GT)


def test_summarise_refuses_an_empty_set() -> None:
    with pytest.raises(ValueError):
        summarise([])


def test_haze_is_the_error_outside_the_band_around_the_true_boundary() -> None:
    # 100 x 100, left half subject: the band is 1.5 % of the diagonal (2.12 px) either side of the
    # boundary, so columns 48..51 are in it and 96 columns are outside
    gt = np.zeros((100, 100), np.uint8)
    gt[:, :50] = 255
    pred = gt.copy()
    pred[:, 50:] = 51  # a 20 % haze over the whole background, band included
    score = score_image(pred, gt)
    assert score.haze == pytest.approx(48 * 0.2 / 96)
    assert score.mae == pytest.approx(0.1)
    edge_only = gt.copy()
    edge_only[:, 48:52] = 128  # a soft edge inside the band is no haze
    assert score_image(edge_only, gt).haze == 0.0


def test_a_sets_haze_is_the_mean_over_images() -> None:
    gt = np.zeros((100, 100), np.uint8)
    gt[:, :50] = 255
    hazy = gt.copy()
    hazy[:, 60:] = 255  # 40 wrong columns of the 96 outside the band
    result = summarise([score_image(gt, gt), score_image(hazy, gt)])
    assert result.haze == pytest.approx((0 + 40 / 96) / 2)
    assert result.as_dict()["haze"] == round(result.haze, 6)
