"""studies.edge_gates: the gates that decide where the soft alpha may replace the crisp one."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.report import publish
from engine.refine import refine_alpha
from studies.edge_gates import Photo, against_thresholded, background_texture, gated, top_of_subject, transition_width


def _disc_map(blur: float) -> np.ndarray:
    """A 320x320 prediction of a disc whose edge is blurred by `blur` model pixels."""
    pred = np.zeros((320, 320), np.float32)
    cv2.circle(pred, (160, 160), 90, 1.0, -1)
    return cv2.GaussianBlur(pred, (0, 0), blur) if blur else pred


def _photo() -> np.ndarray:
    photo = np.full((480, 480, 3), 40, np.uint8)
    cv2.circle(photo, (240, 240), 135, (200, 180, 160), -1)
    return photo


def _across_the_edge(width: np.ndarray) -> float:
    """Median width on the row through the disc's centre, where the window holds the contour."""
    row = width[width.shape[0] // 2]
    return float(np.median(row[row > 0]))


def test_the_width_gate_tells_a_clean_edge_from_a_wide_one() -> None:
    photo = _photo()
    clean = _across_the_edge(transition_width(Photo(_disc_map(1.0), photo)))
    wide = _across_the_edge(transition_width(Photo(_disc_map(6.0), photo)))
    assert clean < 4 < 8 < wide  # model pixels: the model's own edge blur is about 2


def test_a_shut_gate_keeps_the_crisp_alpha_and_an_open_one_takes_the_soft_one() -> None:
    pred, photo = _disc_map(2.0), _photo()
    shut = gated(lambda _: np.zeros((8, 8), np.float32))(Photo(pred, photo))
    opened = gated(lambda _: np.ones((8, 8), np.float32))(Photo(pred, photo))
    assert np.array_equal(shut, refine_alpha(pred, photo))
    assert np.array_equal(opened, refine_alpha(pred, photo, soft=True))


def test_a_side_study_writes_its_json_and_markdown_and_prints_the_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = {"created": "now", "figures": [1, 2]}
    assert publish(results, tmp_path / "study" / "edge_gates", "| a |\n") == 0
    assert json.loads((tmp_path / "study" / "edge_gates.json").read_text()) == results
    assert (tmp_path / "study" / "edge_gates.md").read_text() == "| a |\n"
    assert "| a |" in capsys.readouterr().out


def _textured(photo: np.ndarray) -> np.ndarray:
    """The disc photo with a fine checkerboard (squares of 4 px, 80 levels apart) outside the disc."""
    yy, xx = np.mgrid[: photo.shape[0], : photo.shape[1]]
    board = np.where((yy // 4 + xx // 4) % 2 == 0, 0, 80).astype(np.uint8)
    outside = (yy - 240) ** 2 + (xx - 240) ** 2 > 145**2
    out = photo.copy()
    out[outside] = (board[outside, None] + np.array([20, 30, 40], np.uint8)).astype(np.uint8)
    return out


def test_the_background_texture_gate_tells_a_flat_background_from_a_busy_one() -> None:
    pred, flat = _disc_map(2.0), _photo()
    calm = float(background_texture(Photo(pred, flat)).max())
    busy = _across_the_edge(background_texture(Photo(pred, _textured(flat))))
    assert calm < 0.02 < 0.2 < busy  # mean Sobel magnitude of the sure background's colours (0..1)


def test_the_top_of_subject_gate_opens_only_above_the_given_share_of_the_subject() -> None:
    photo = Photo(_disc_map(2.0), _photo())  # the disc spans rows 70..250 of 320 on the map
    gate = top_of_subject(0.25)(photo)
    rows = np.nonzero(gate.any(axis=1))[0]
    top, height = 70 / 320 * gate.shape[0], 180 / 320 * gate.shape[0]
    assert rows[0] == 0 and abs(rows[-1] - (top + 0.25 * height)) <= 2
    assert set(np.unique(gate)) == {0.0, 1.0}


def test_a_matte_scored_as_a_binary_mask_is_scored_against_its_truth_thresholded_at_128() -> None:
    truth = np.array([[0, 100, 200, 255]], np.uint8)
    assert against_thresholded(truth, truth) == pytest.approx((100 + 55) / 255 / 4)  # the true alpha loses
    assert against_thresholded(np.array([[0, 0, 255, 255]], np.uint8), truth) == 0.0
