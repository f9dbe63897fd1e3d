"""studies.edge_styles: the candidates' alphas and the colours that go with them."""

from __future__ import annotations

import cv2
import numpy as np

from engine.foreground import decontaminate
from engine.refine import refine_matte
from studies.edge_styles import MattePhoto, candidates, cutout, gate_candidates, near_edge


def _photo() -> MattePhoto:
    """A light disc on a dark ground, the model's map of it blurred by 2 model pixels."""
    bgr = np.full((480, 480, 3), 40, np.uint8)
    cv2.circle(bgr, (240, 240), 135, (200, 180, 160), -1)
    pred = np.zeros((320, 320), np.float32)
    cv2.circle(pred, (160, 160), 90, 1.0, -1)
    return MattePhoto(cv2.GaussianBlur(pred, (0, 0), 2.0), bgr)


def test_the_near_edge_gate_opens_along_the_maps_contour_only() -> None:
    photo = _photo()
    gate = near_edge(2.0)(photo)
    _, p, _ = photo.grid
    contour = cv2.morphologyEx((p >= 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    centre = (p.shape[0] // 2, p.shape[1] // 2)
    assert np.all(gate[contour] == 1.0)
    assert gate[centre] == 0.0 and gate[0, 0] == 0.0  # deep inside and far outside: shut
    assert 0.0 < gate.mean() < 0.2


def test_a_candidates_cutout_takes_its_alpha_and_unmixes_colours_with_the_other() -> None:
    photo = _photo()
    bgra = cutout(photo, candidates()["crisp, colours by the soft coverage (the new default)"])
    assert np.array_equal(bgra[..., 3], photo.crisp)
    assert np.array_equal(bgra[..., :3], decontaminate(photo.bgr, photo.soft_matte.coverage))


def test_the_gate_studys_engine_candidate_is_the_engines_default_alpha() -> None:
    photo = _photo()
    way = gate_candidates()["the engine's gate: smooth and apart, spread over wide bands"]
    assert np.array_equal(way[0](photo), refine_matte(photo.pred, photo.bgr).alpha)
