"""The matting measures (SAD, MSE, gradient, connectivity) on mattes small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bench.matting_metrics import (
    MatteErrors,
    connectivity_phi,
    gaussian_gradient_kernel,
    gradient_magnitude,
    mean_scores,
    score_matte,
    transition_band,
)


def matte(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


ALL = np.ones((2, 2), bool)


def test_sad_and_mse_over_the_whole_image_by_hand() -> None:
    gt = matte([[255, 255], [0, 0]])
    pred = matte([[255, 204], [51, 0]])  # errors 0, 0.2, 0.2, 0
    whole = score_matte(pred, gt, band=ALL).whole
    assert whole.sad == pytest.approx(0.4 / 1000)
    assert whole.mse == pytest.approx((0.04 + 0.04) / 4)


def test_band_errors_count_only_band_pixels_and_mse_is_their_mean() -> None:
    gt = matte([[255, 255], [0, 0]])
    pred = matte([[255, 204], [51, 0]])
    band = np.array([[False, True], [False, False]])
    errors = score_matte(pred, gt, band=band).band
    assert errors.sad == pytest.approx(0.2 / 1000)
    assert errors.mse == pytest.approx(0.04)  # one pixel: the mean is its own squared error


def test_soft_share_counts_strictly_partial_pixels() -> None:
    gt = matte([[255, 0], [0, 0]])
    pred = matte([[255, 1], [254, 0]])
    assert score_matte(pred, gt, band=ALL).soft_share == 0.5


def test_a_perfect_matte_has_no_error_at_all() -> None:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    score = score_matte(gt, gt)
    assert score.whole == MatteErrors(0.0, 0.0, 0.0, 0.0)


def test_gradient_kernel_is_the_dim_codes() -> None:
    kernel = gaussian_gradient_kernel(1.4)
    # halfsize = ceil(1.4 * sqrt(-2 log(sqrt(2 pi) 1.4 0.01))) = ceil(1.4 * 2.827...) = 4
    assert kernel.shape == (9, 9)
    assert np.sum(kernel**2) == pytest.approx(1.0)
    assert np.allclose(kernel[:, 4], 0.0)  # dgauss(0) = 0: the centre column
    assert np.allclose(kernel, -kernel[:, ::-1])  # odd along x, even along y
    assert np.allclose(kernel, kernel[::-1, :])
    assert kernel[4, 3] > 0 > kernel[4, 5]  # dgauss(u) = -u gauss(u) / sigma^2


def test_gradient_of_a_ramp_is_the_kernels_response_to_a_unit_slope() -> None:
    x = np.tile(np.arange(12, dtype=np.float64) / 11, (12, 1))  # slope 1/11 per pixel along x
    kernel = gaussian_gradient_kernel()
    u = np.arange(-4, 5)
    # convolution of a linear ramp: sum over the kernel of k(i, j) * (slope * (c - j))
    expected = abs(np.sum(kernel * (-u[None, :] / 11)))
    magnitude = gradient_magnitude(x)
    assert magnitude[6, 6] == pytest.approx(expected)
    assert np.allclose(gradient_magnitude(np.full((12, 12), 0.3)), 0.0)  # flat: no gradient


def test_connectivity_phi_by_hand() -> None:
    # gt: one connected foreground pixel pair; pred adds a disconnected island of 0.5
    gt8, pred8 = matte([[255, 255, 0, 0]]), matte([[255, 255, 0, 128]])
    gt, pred = gt8 / 255, pred8 / 255
    phi_pred, phi_gt = connectivity_phi(pred, gt)
    # the island is never part of the largest component of pred & gt >= t (gt is 0 there),
    # so its level is 0 (dropped at t = 0.1): d = 128/255 >= 0.15, phi = 1 - d; in gt d = 0, phi = 1
    assert phi_pred[0, 3] == pytest.approx(1 - 128 / 255) and phi_gt[0, 3] == pytest.approx(1.0)
    # the connected pixels stay in the component up to t = 1: l = 1, d = 0, phi = 1
    assert np.allclose(phi_pred[0, :2], 1.0) and np.allclose(phi_gt[0, :2], 1.0)
    score = score_matte(pred8, gt8, band=np.ones((1, 4), bool))
    assert score.whole.conn == pytest.approx(128 / 255 / 1000)


def test_connectivity_uses_four_neighbours() -> None:
    gt = np.array([[1.0, 0.0], [0.0, 1.0]])  # two diagonal pixels: two 4-connected components
    phi_pred, phi_gt = connectivity_phi(gt.copy(), gt)
    assert np.allclose(phi_pred, phi_gt)  # identical mattes: identical phi, whatever l is
    # one of the two is not the largest component: its level is 0, so d = 1 and phi = 0
    assert sorted(phi_gt[gt == 1].tolist()) == [0.0, 1.0]


def test_transition_band_is_soft_truth_dilated_by_a_disc() -> None:
    gt = np.zeros((41, 41), np.uint8)
    gt[20, 20] = 128
    band = transition_band(gt, radius=15)
    assert band[20, 35] and band[20, 5] and band[5, 20]  # 15 px along the axes
    assert not band[20, 36]
    assert not band[9, 9]  # (11, 11) away is 15.6 px: outside the disc
    assert band[10, 10]  # (10, 10) away is 14.1 px: inside


def test_mean_scores_weigh_each_image_the_same() -> None:
    gt = matte([[255, 0]])
    one = score_matte(matte([[255, 0]]), gt, band=np.ones((1, 2), bool))
    two = score_matte(matte([[0, 0]]), gt, band=np.ones((1, 2), bool))
    means = mean_scores([one, two])
    assert means["sad_whole"] == pytest.approx(0.5 / 1000)
    assert means["mse_whole"] == pytest.approx(0.25)


def test_shapes_and_dtypes_are_checked() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        score_matte(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        score_matte(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8))
