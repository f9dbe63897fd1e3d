"""Edges as a user sees them: cut-outs composited onto white and black against the true alpha's
composite, on images small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bench.composite import composite, edge_photos, score_composite, true_foreground

ALL = np.ones((1, 2), bool)


def rgba(colours: list[tuple[int, int, int]], alphas: list[int]) -> np.ndarray:
    """A one-row RGBA cut-out."""
    return np.array([[(*c, a) for c, a in zip(colours, alphas, strict=True)]], np.uint8)


def test_a_composite_is_rounded_to_8_bit_levels() -> None:
    colour = np.array([[[200, 0, 100]]], np.uint8)
    alpha = np.array([[128]], np.uint8)
    # white: 255 + 128/255 * (c - 255) = 227.39, 127.00, 177.20; black: 128/255 * c = 100.39, 0, 50.20
    assert composite(colour, alpha, 255.0).tolist() == [[[227, 127, 177]]]
    assert composite(colour, alpha, 0.0).tolist() == [[[100, 0, 50]]]


def test_the_truth_itself_scores_zero() -> None:
    truth_colour = np.array([[[10, 20, 30], [200, 100, 0]]], np.float64)
    truth_alpha = np.array([[255, 100]], np.uint8)
    cutout = rgba([(10, 20, 30), (200, 100, 0)], [255, 100])
    errors = score_composite(cutout, truth_colour, truth_alpha, band=ALL)
    assert errors.band == errors.whole == 0.0


def test_a_background_rim_on_an_opaque_fringe_pixel_is_the_hand_computed_error() -> None:
    # truth: a half-covered red pixel; the cut-out made it opaque and kept the photo's colour,
    # red half-mixed with sky blue (0, 0, 255) -> (128, 0, 128)
    truth_colour = np.array([[[255, 0, 0], [255, 0, 0]]], np.float64)
    truth_alpha = np.array([[255, 128]], np.uint8)
    cutout = rgba([(255, 0, 0), (128, 0, 128)], [255, 255])
    # truth on white: (255, 127, 127) -> cut-out (128, 0, 128): errors 127, 127, 1 -> mean 85
    # truth on black: (128, 0, 0) -> cut-out (128, 0, 128): errors 0, 0, 128 -> mean 42.67
    # the first pixel is exact; over both pixels: (85 + 42.67) / 2 / 2
    errors = score_composite(cutout, truth_colour, truth_alpha, band=ALL)
    assert errors.whole == pytest.approx((85 + 128 / 3) / 4)
    only_fringe = np.array([[False, True]])
    assert score_composite(cutout, truth_colour, truth_alpha, band=only_fringe).band == pytest.approx(
        (85 + 128 / 3) / 2
    )


def test_the_default_band_is_the_true_alphas_transition_dilated() -> None:
    truth_alpha = np.zeros((40, 40), np.uint8)
    truth_alpha[:, 20:] = 255
    truth_alpha[:, 20] = 128  # one soft column: the band is columns 5..35
    truth_colour = np.full((40, 40, 3), 100.0)
    cutout = np.dstack([np.full((40, 40, 3), 100, np.uint8), truth_alpha])
    cutout[:, 0, 3] = 255  # an error outside the band counts for the whole image only
    errors = score_composite(cutout, truth_colour, truth_alpha)
    assert errors.band == 0.0
    # column 0: on white 255 -> 100, on black 0 -> 100: 155 and 100 over 1600 pixels
    assert errors.whole == pytest.approx((155 + 100) / 2 / 40)


def test_true_foreground_keeps_opaque_colours_and_unmixes_a_fringe() -> None:
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[...] = (0, 0, 255)  # blue background
    rgb[:, :8] = (255, 0, 0)  # red subject on the left
    alpha = np.zeros((16, 16), np.uint8)
    alpha[:, :8] = 255
    alpha[:, 8] = 128
    rgb[:, 8] = (128, 0, 127)  # the fringe: half red, half blue
    foreground = true_foreground(rgb, alpha)
    assert np.allclose(foreground[:, :8], (255, 0, 0), atol=2)
    assert foreground[8, 8, 0] > 200 and foreground[8, 8, 2] < 60  # red, not the photo's purple


def test_edge_photos_are_those_whose_subject_every_contender_gets_right() -> None:
    ious = {"a": {"p1": 0.97, "p2": 0.95, "p3": 0.5}, "b": {"p1": 0.99, "p2": 0.89, "p3": 0.99}}
    assert edge_photos(ious, min_iou=0.9) == ["p1"]
