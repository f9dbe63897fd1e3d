"""studies.triage_features: every side output of a U²-Net head exposed, and the candidates scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from studies.triage_features import candidate_features, table, variants, with_every_side
from tests.unit.test_modelbuild import head_model, side_map
from training.error_model import Row


def test_every_side_output_is_exposed_finest_first_and_the_fused_map_is_untouched(tmp_path: Path) -> None:
    source = head_model(tmp_path / "two.onnx")
    x = {"img": np.random.default_rng(0).uniform(-1, 1, (1, 3, 8, 6)).astype(np.float32)}
    before = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, x)[0]

    names = with_every_side(source, tmp_path / "sides.onnx")
    alpha, side1, side2 = ort.InferenceSession(str(tmp_path / "sides.onnx"), providers=["CPUExecutionProvider"]).run(
        ["alpha", *names], x
    )
    assert names == ["study_side1", "study_side2"]
    np.testing.assert_array_equal(alpha, before)
    np.testing.assert_allclose(side1[0, 0], side_map(x["img"], 0), atol=0.003)  # as the fuse sees it, after Q/DQ
    np.testing.assert_allclose(side2[0, 0], side_map(x["img"], 1), atol=1e-6)


def test_candidates_are_each_maps_mean_distance_from_the_models_own() -> None:
    own = np.zeros((4, 4), np.float32)
    own[:2] = 1.0
    found = candidate_features({"map": own, "side1": own.copy(), "mirrored": 1.0 - own, "other": own * 0.5})
    assert found == {"side1": 0.0, "mirrored": 1.0, "other": 0.25}


def test_the_table_scores_each_feature_set_on_held_out_groups_and_reports_the_dev_sets() -> None:
    rng = np.random.default_rng(0)

    def made(group: str, n: int) -> list[Row]:
        errors = rng.uniform(0.01, 0.3, n)
        noise = rng.uniform(0.9, 1.1, n)
        return [
            Row(group, {"peak": 0.5, "side1": float(e * k), "mirrored": float(rng.uniform())}, float(e))
            for e, k in zip(errors, noise, strict=True)
        ]

    validation, dev = made("a", 20) + made("b", 20), made("sod", 30)
    sets = variants(("peak",), ["side1", "mirrored"])
    assert list(sets) == ["shipped: peak", "shipped + side1", "shipped + mirrored", "side1 alone", "mirrored alone"]
    lines = table(validation, dev, sets).splitlines()
    assert lines[0] == "| features | a | b | worst catch | carried | dev/sod | dev/all |"
    side1 = lines[3].split(" | ")
    assert (
        side1[0] == "| shipped + side1" and side1[3] == "1.000" and side1[5].startswith("1.000")
    )  # it sees every error
