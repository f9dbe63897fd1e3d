"""bench.edge_gates: the gates that decide where the soft alpha may replace the crisp one."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.edge_gates import Photo, gated, transition_width
from bench.report import publish
from engine.refine import refine_alpha


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
