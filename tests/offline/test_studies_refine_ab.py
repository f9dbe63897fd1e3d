"""studies.refine_ab loads a revision's refinement from git and runs it beside this checkout's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studies.refine_ab import load_base, refiners


def test_the_base_revisions_refinement_is_importable_and_refines(tmp_path: Path) -> None:
    base = load_base("HEAD", tmp_path)
    ways = refiners(base)
    assert set(ways) == {"base", "crisp", "crisp, no curve", "soft"}
    pred = np.zeros((32, 32), np.float32)
    pred[8:24, 8:24] = 1.0
    photo = np.full((64, 64, 3), 90, np.uint8)
    for refine in ways.values():
        alpha = refine(pred, photo)
        assert alpha.shape == (64, 64) and alpha[32, 32] == 255 and alpha[2, 2] == 0
