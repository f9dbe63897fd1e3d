"""studies.frame_filling: which photos count as frame-filling, and the `faint` share it gates on."""

from __future__ import annotations

import cv2
import numpy as np

from engine.quality import faint_share
from studies.frame_filling import fills_frame


def _disc(radius: int, centre: tuple[int, int] = (160, 160)) -> np.ndarray:
    mask = np.zeros((320, 320), np.float32)
    cv2.circle(mask, centre, radius, 1.0, -1)
    return mask


def test_a_subject_that_covers_most_of_the_frame_or_its_border_fills_it() -> None:
    assert not fills_frame(_disc(60))  # a subject well inside the frame
    assert fills_frame(_disc(200))  # covers over half of the frame
    band = np.zeros((320, 320), np.float32)
    band[:, :100] = 1.0  # a third of the frame, but a quarter of its outermost pixels and more
    assert fills_frame(band)


def test_the_faint_share_is_the_half_seen_area_around_the_cut_out() -> None:
    sure = _disc(40)
    assert faint_share(sure) == 0.0
    assert faint_share(np.zeros((320, 320), np.float32)) == 0.0  # nothing seen at all
    half_seen = np.maximum(sure, 0.3 * _disc(80))  # a body at 0.3 around a sure face
    assert abs(faint_share(half_seen) - (1 - 40**2 / 80**2)) < 0.02
