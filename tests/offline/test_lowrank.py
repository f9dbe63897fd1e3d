"""Low-rank factorisation of U²-Net's deepest stages: exact at full rank, the variance it drops, the
parameter budget, and a factored student through the training pipeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="training/requirements.txt (torch) is installed by make test")

from modelbuild.teachers import TEACHERS  # noqa: E402
from tests.offline.test_student import U2NET, WIDE, tiny_student  # noqa: E402
from training import pipeline  # noqa: E402
from training.lowrank import (  # noqa: E402
    LOW_RANK_STAGES,
    factorise,
    layers_of,
    low_rank,
    output_spectra,
)
from training.train import TrainConfig, average_weights, kept_state, student_from_state  # noqa: E402
from training.u2net import U2NET_WIDTHS, U2Net, narrower_middles, parameter_count, scaled_widths  # noqa: E402

BIGGER = ((8, 16), (8, 16), (8, 16), (16, 32), (16, 32), (16, 32), (16, 32), (16, 32), (8, 16), (8, 16), (8, 16))


def outputs(model: U2Net, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return model(x)


def test_factoring_at_full_rank_reproduces_the_network():
    torch.manual_seed(0)
    model = U2Net(WIDE).eval()
    x = torch.randn(1, 3, 64, 48)
    layers = layers_of(model, LOW_RANK_STAGES)
    assert len(layers) == 5 * 8 and all(path.startswith(("stages.", "decoders.")) for path in layers)
    full = factorise(model, output_spectra(model, layers, [x]), {p: c.out_channels for p, c in layers.items()})
    assert len(full.ranks) == len(layers) and parameter_count(full) > parameter_count(model)
    for want, have in zip(outputs(model, x), outputs(full, x), strict=True):
        assert torch.allclose(want, have, atol=1e-5)


def test_a_factored_layer_loses_exactly_the_variance_of_the_directions_it_drops():
    """On the photos it was fitted on, the rank-r layer's outputs differ from the full layer's by the
    covariance's dropped eigenvalues, summed (the other layers are left whole, so its input is the same)."""
    torch.manual_seed(1)
    model = U2Net(BIGGER).eval()
    x = torch.randn(1, 3, 64, 64)
    path = "stages.4.encoder.1"
    spectra = output_spectra(model, layers_of(model, LOW_RANK_STAGES), [x])
    factored = factorise(model, spectra, {path: 5})
    recorded = []
    hooks = [
        m.get_submodule(path).conv.register_forward_hook(lambda _m, _a, out: recorded.append(out))
        for m in (model, factored)
    ]
    outputs(model, x), outputs(factored, x)
    for hook in hooks:
        hook.remove()
    want, have = recorded
    lost = float((have - want).pow(2).sum(dim=1).mean())
    assert lost == pytest.approx(float(spectra[path].variances[5:].sum()), rel=1e-3)
    assert lost < 0.5 * float(spectra[path].variances.sum())  # 5 of 16 directions keep most of it


def test_ranks_fit_the_budget_and_a_budget_below_rank_one_everywhere_is_refused():
    torch.manual_seed(2)
    model = U2Net(BIGGER).eval()
    photos = [torch.randn(1, 3, 64, 64) for _ in range(2)]
    budget = parameter_count(model) * 2 // 3
    student = low_rank(model, photos, budget)
    assert parameter_count(student) <= budget < parameter_count(model)
    assert student.ranks and all(rank >= 1 for rank in student.ranks.values())
    assert all(
        path.startswith(("stages.3", "stages.4", "stages.5", "decoders.0", "decoders.1")) for path in student.ranks
    )
    with pytest.raises(ValueError, match="exceed the budget"):
        low_rank(model, photos, parameter_count(model) // 10)


def test_a_factored_student_is_rebuilt_from_its_kept_weights_and_not_averaged_with_another(tmp_path: Path):
    torch.manual_seed(3)
    model = U2Net(BIGGER).eval()
    photos = [torch.randn(1, 3, 64, 64)]
    student = low_rank(model, photos, parameter_count(model) * 2 // 3)
    torch.save(kept_state(student, step=1), tmp_path / "a.pt")
    again = student_from_state(torch.load(tmp_path / "a.pt", weights_only=True))
    assert again.ranks == student.ranks
    for want, have in zip(outputs(student, photos[0]), outputs(again, photos[0]), strict=True):
        assert torch.equal(want, have)
    torch.save(kept_state(low_rank(model, photos, parameter_count(model) // 2), step=2), tmp_path / "b.pt")
    with pytest.raises(ValueError, match="other widths or ranks"):
        average_weights([tmp_path / "a.pt", tmp_path / "b.pt"])


def test_narrower_middles_touch_only_the_outer_stages_middle_channels():
    narrow = narrower_middles(U2NET_WIDTHS, 0.5)
    assert [out for _, out in narrow] == [out for _, out in U2NET_WIDTHS]
    assert [mid for mid, _ in narrow] == [16, 16, 32, 128, 256, 256, 256, 128, 32, 16, 16]  # stage1d: 16 at least
    assert narrower_middles(scaled_widths(0.5), 1.0) == scaled_widths(0.5)
    with pytest.raises(ValueError, match="middle channels"):
        TrainConfig(arch="u2net", middle=0.0)
    with pytest.raises(ValueError, match="low_rank"):
        TrainConfig(arch="u2netp", low_rank=1.0)
    assert TrainConfig(arch="u2net", middle=0.5, low_rank=11, distill="features").low_rank == 11


@pytest.mark.skipif(not U2NET.is_file(), reason="python -m modelbuild fetch u2net")
def test_a_low_rank_student_is_made_taught_and_exported_by_the_pipeline(tmp_path: Path):
    job = tiny_student(tmp_path, TEACHERS["u2net"], seed=10)
    job = replace(job, config=replace(job.config, width=1.0, middle=0.5, low_rank=3.0, distill="features"))
    pipeline.train(job)
    init = torch.load(job.run_dir / "init.pt", weights_only=True)
    assert init["ranks"] and tuple(map(tuple, init["widths"])) == narrower_middles(U2NET_WIDTHS, 0.5)
    student = student_from_state(torch.load(job.run_dir / "step-2.pt", weights_only=True))
    assert student.ranks == init["ranks"] and parameter_count(student) <= 3_000_000

    (tmp_path / "models").mkdir()
    pipeline.export(job)
    graph = onnx.load(str(job.float_onnx)).graph
    assert sum(node.op_type == "Conv" for node in graph.node) == len(student.execution_order_convs())
    session = ort.InferenceSession(str(job.float_onnx), providers=["CPUExecutionProvider"])
    (alpha,) = session.run(None, {"input": np.zeros((1, 3, 64, 64), np.float32)})
    assert alpha.shape == (1, 1, 64, 64) and np.isfinite(alpha).all()
    assert "factored to low rank for 3 M parameters" in pipeline.training_provenance(job)["source"]["architecture"]


def test_the_cost_probe_reads_a_candidate_s_shape():
    from training.cost import Shape  # noqa: PLC0415

    assert Shape.parse("1/0.5+11@288") == Shape(width=1.0, middle=0.5, low_rank=11.0, size=288)
    assert Shape.parse("0.5") == Shape(width=0.5)
    assert str(Shape.parse("1/0.5+11")) == "U²-Net x1.0, middles x0.5, low rank 11 M @320"
