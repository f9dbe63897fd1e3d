"""Layer-by-layer least squares (training/reconstruct.py): a layer whose inputs are the teacher's
gets the teacher's weights back, a pruned and factored student comes closer to its teacher on
photos it was not fitted on, a student whose stages lost output channels is refused, and the
pipeline's `reconstruct` step makes the run's weights that `export --weights reconstructed` takes."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training/requirements.txt (torch) is installed by make test")

from modelbuild.photos import photo_tensor  # noqa: E402
from modelbuild.teachers import TEACHERS  # noqa: E402
from tests.offline.test_lowrank import BIGGER  # noqa: E402
from tests.offline.test_student import U2NET, tiny_student  # noqa: E402
from training import pipeline  # noqa: E402
from training.lowrank import low_rank  # noqa: E402
from training.prune import calibrate_heads, prune  # noqa: E402
from training.reconstruct import (  # noqa: E402
    fit_layer,
    layer_input,
    layers_in_order,
    patches,
    reconstruct,
    sample_positions,
)
from training.split import validation_stems  # noqa: E402
from training.train import student_from_state  # noqa: E402
from training.u2net import OutputTap, U2Net, load_onnx_weights, narrower_middles, parameter_count, scaled_widths  # noqa: E402


def photos(count: int, seed: int, side: int = 64) -> list[torch.Tensor]:
    """Smooth random images (blurred noise): neighbouring pixels agree, as in photos."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(count, 3, side // 8, side // 8, generator=generator)
    smooth = torch.nn.functional.interpolate(noise, size=(side, side), mode="bilinear", align_corners=False)
    return [image[None] for image in smooth]


def fused_gap(student: U2Net, teacher: U2Net, inputs: list[torch.Tensor]) -> float:
    with torch.no_grad():
        return float(sum((student(x)[0] - teacher(x)[0]).abs().mean() for x in inputs) / len(inputs))


def test_a_layer_reading_the_teacher_s_inputs_gets_the_teacher_s_weights_back():
    torch.manual_seed(0)
    teacher = U2Net(BIGGER).eval()
    student = copy.deepcopy(teacher)
    layer = next(item for item in layers_in_order(student, teacher) if item.path == "stages.0.encoder.1")
    with torch.no_grad():
        layer.conv.weight.add_(0.3 * torch.randn_like(layer.conv.weight))
    assert isinstance(layer.conv, torch.nn.Conv2d)
    inputs = photos(3, seed=1)
    xs, ys = [], []
    with OutputTap([layer.target]) as tap:
        for x in inputs:
            seen = layer_input(student, layer.module, x)
            with torch.no_grad():
                teacher(x)
            positions = sample_positions(seen.shape[2] * seen.shape[3], seed=0)
            xs.append(patches(seen, layer.conv, positions))
            ys.append(tap.take()[0][0].flatten(1)[:, positions])
    error = fit_layer(layer, xs, ys, ridge=1e-9)
    assert error < 1e-8
    assert torch.allclose(layer.conv.weight, layer.target.weight, atol=1e-4)
    assert torch.allclose(layer.conv.bias, layer.target.bias, atol=1e-4)


def test_a_pruned_factored_student_comes_closer_to_its_teacher_on_other_photos():
    torch.manual_seed(2)
    teacher = U2Net(BIGGER).eval()
    fitting, held = photos(6, seed=3), photos(4, seed=4)
    pruned = prune(teacher, narrower_middles(BIGGER, 0.5, floor=4)).eval()
    student = calibrate_heads(low_rank(pruned, fitting, parameter_count(pruned) * 2 // 3), teacher, fitting).eval()
    assert student.ranks and student.widths != teacher.widths
    before = fused_gap(student, teacher, held)
    reconstruct(student, teacher, fitting, ridge=1e-3, log=False)
    after = fused_gap(student, teacher, held)
    assert after < 0.7 * before, (before, after)


def test_a_student_whose_stages_lost_outputs_is_refused():
    teacher = U2Net(BIGGER).eval()
    narrow = prune(teacher, scaled_widths(0.5, BIGGER))
    with pytest.raises(ValueError, match="keep the teacher's outputs"):
        layers_in_order(narrow, teacher)


@pytest.mark.skipif(not U2NET.is_file(), reason="python -m modelbuild fetch u2net")
def test_the_pipeline_refits_a_low_rank_student_and_exports_it_as_reconstructed(tmp_path: Path):
    job = tiny_student(tmp_path, TEACHERS["u2net"], seed=11)
    job = replace(job, config=replace(job.config, width=1.0, middle=0.5, low_rank=3.0), weights="reconstructed")
    pipeline.reconstruct(job)
    made = json.loads((job.run_dir / "reconstructed.json").read_text())
    held = validation_stems(tmp_path / "photos")
    assert len(made["photos"]) == 3 and not {Path(p).stem for p in made["photos"]} & held  # training photos only
    start = student_from_state(torch.load(job.run_dir / "init.pt", weights_only=True))
    refitted = student_from_state(torch.load(job.run_dir / "reconstructed.pt", weights_only=True))
    assert refitted.ranks == start.ranks and parameter_count(refitted) <= 3_000_000
    u2net = load_onnx_weights(U2Net(), U2NET).eval()
    photo = [torch.from_numpy(photo_tensor(p, 64)) for p in sorted((tmp_path / "photos" / "images").iterdir())]
    assert fused_gap(refitted, u2net, photo) < fused_gap(start, u2net, photo)
    assert "reconstructed" in json.loads((job.run_dir / "reconstructions.json").read_text())

    (tmp_path / "models").mkdir()
    pipeline.export(job)
    assert json.loads((job.run_dir / "exported.json").read_text())["weights"] == "reconstructed.pt"
    described = pipeline.training_provenance(job)["source"]["architecture"]
    assert "refitted layer by layer" in described and "distilled" not in described
