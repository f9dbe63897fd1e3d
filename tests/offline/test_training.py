"""The training pipeline end to end on a tiny generated data set: teacher labels, a few steps of
distillation, resume, ONNX export, INT8 quantization and evaluation through the engine."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="training/requirements.txt (torch) is installed by make test")

from engine import Options, OutputMode, remove_background  # noqa: E402
from engine.quality import DEFAULT as DEFAULT_ERROR_MODEL  # noqa: E402
from engine.quality import ErrorModel  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from modelbuild.paths import REPO, SOURCE_MODELS  # noqa: E402
from modelbuild.photos import PhotoSplit  # noqa: E402
from modelbuild.teachers import TEACHERS, Member, Teacher, combine  # noqa: E402
from training import pipeline  # noqa: E402
from training.__main__ import job_from, parse  # noqa: E402
from training.__main__ import main as training_main  # noqa: E402
from training.data import (  # noqa: E402
    CLOSE_UPS,
    Example,
    check_examples,
    find_examples,
    load_example,
    paste_subject,
    warn_unmatched_masks,
)
from training.split import Rule, folder_key, images_of, warn_left_out  # noqa: E402
from training.teacher import candidates, make_labels  # noqa: E402
from training.train import TrainConfig, interpolate_weights, make_optimiser, resume, train  # noqa: E402
from training.u2netp import U2NetP, load_onnx_weights  # noqa: E402
from training.validate import CLOSE_UP_GROUP, close_up_group, label_unlabelled, trained_groups  # noqa: E402

U2NETP = SOURCE_MODELS / "u2netp.onnx"  # `make models` fetches it; here it is teacher and initial weights
DATA = Path(__file__).resolve().parents[1] / "data"  # rotated-6.heic: red over blue once turned by its EXIF 6


def make_set(folder: Path, count: int, masks: bool, seed: int) -> None:
    """Photos of a bright disc or box on textured ground, with their masks."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    if masks:
        (folder / "masks").mkdir()
    for i in range(count):
        h, w = int(rng.integers(90, 140)), int(rng.integers(90, 140))
        photo = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), np.uint8)
        centre = (int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3)))
        cv2.circle(mask, centre, int(min(h, w) * 0.25), 255, -1)
        photo[mask > 0] = rng.integers(150, 255, 3)
        cv2.imwrite(str(folder / "images" / f"s{i}.jpg"), photo)
        if masks:
            cv2.imwrite(str(folder / "masks" / f"s{i}.png"), mask)


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> pipeline.Job:
    root = tmp_path_factory.mktemp("training")
    make_set(root / "labelled", 4, masks=True, seed=1)
    make_set(root / "unlabelled", 2, masks=False, seed=2)
    make_set(root / "dev" / "tiny", 3, masks=True, seed=3)
    (root / "models").mkdir()
    return pipeline.Job(
        data=[root / "labelled", root / "unlabelled"],
        run_dir=root / "run",
        labels_root=root / "labels",
        model_id="tiny-student-int8",
        config=TrainConfig(size=64, steps=3, batch_size=2, checkpoint_every=2, validate_every=2),
        teacher=Teacher((Member("u2netp", U2NETP, 320),), flip=True),
        init=U2NETP,
        engine_models=root / "models",
        dev_dir=root / "dev",
        interpolate=0.5,
        photos=PhotoSplit(folder=root / "labelled" / "images", stride=2, calibration_count=2, holdout_count=2),
    )


def test_module_reproduces_the_published_onnx_model():
    model = load_onnx_weights(U2NetP(), U2NETP).eval()
    x = np.random.default_rng(0).normal(size=(1, 3, 320, 320)).astype(np.float32)
    expected = ort.InferenceSession(str(U2NETP), providers=["CPUExecutionProvider"]).run(None, {"input.1": x})
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    for want, have in zip(expected, got, strict=True):
        assert np.abs(want - have.numpy()).max() < 1e-4


def test_pipeline_end_to_end(job: pipeline.Job):
    pipeline.teacher(job)
    labels = sorted(job.labels.rglob("*.png"))
    assert len(labels) == 6 and job.labels.name == "u2netp-flip"
    assert all(
        cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).shape == cv2.imread(str(e.image)).shape[:2]
        for e, p in zip(job.examples(), [e.teacher for e in job.examples()], strict=True)
    )

    examples = find_examples(job.data[0], job.labels)
    x, soft, hard, labelled = load_example(examples[0], 64, np.random.default_rng(0))
    assert x.shape == (3, 64, 64) and soft.shape == hard.shape == (1, 64, 64) and labelled == 1.0
    assert 0 <= soft.min() and soft.max() <= 1

    pipeline.train(job)  # 3 steps, checkpoints at 2 and 3
    log = [json.loads(line) for line in (job.run_dir / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3]
    assert all(np.isfinite(entry["loss"]) for entry in log)
    kept = pipeline.validation_log(job.run_dir)  # the one held-out labelled photo scores the kept weights
    assert [entry["step"] for entry in kept] == [2, 3]
    assert set(kept[0]["table"]) == {"labelled", "mean"} and 0 <= kept[0]["table"]["mean"]["mae"] <= 1
    assert (job.run_dir / "step-2.pt").is_file() and pipeline.chosen_weights(job).name in {"step-2.pt", "step-3.pt"}
    data = json.loads((job.run_dir / "data.json").read_text())
    assert data["photos"] == 5 and data["validation_photos"] == {"labelled": 1}
    pipeline.train(job)  # resumes at step 3: nothing more to do
    assert len((job.run_dir / "log.jsonl").read_text().splitlines()) == 3

    pipeline.average(job)  # the kept steps of the schedule's second half: 2 and 3
    kept_weights = [torch.load(job.run_dir / f"step-{n}.pt", weights_only=True)["model"] for n in (2, 3)]
    averaged = torch.load(job.run_dir / "average.pt", weights_only=True)
    assert all(torch.allclose(averaged["model"][k], (kept_weights[0][k] + kept_weights[1][k]) / 2)
               for k, v in kept_weights[0].items() if v.is_floating_point())  # fmt: skip
    assert "step-2 + step-3" in json.loads((job.run_dir / "averages.json").read_text())
    assert pipeline.chosen_weights(replace(job, weights="average")) == job.run_dir / "average.pt"
    with pytest.raises(ValueError, match="at least two"):
        pipeline.average(replace(job, average=("step-2",)))
    soup = replace(job, run_dir=job.run_dir.parent / "soup", average=(str(job.run_dir / "step-3.pt"), "step-9"))
    with pytest.raises(FileNotFoundError, match="step-9"):
        pipeline.average(soup)  # named steps are the new run's own, which has none
    pipeline.average(replace(soup, average=tuple(str(job.run_dir / f"step-{n}.pt") for n in (2, 3))))
    assert torch.equal(torch.load(soup.run_dir / "average.pt", weights_only=True)["model"]["fuse.weight"],
                       averaged["model"]["fuse.weight"])  # fmt: skip
    soup = replace(soup, weights="average")
    pipeline.export(soup)  # a run of averaged weights alone exports, and says what they were
    assert pipeline.training_provenance(soup)["training"]["averaged"] == [str(job.run_dir / "step-2.pt"),
                                                                          str(job.run_dir / "step-3.pt")]  # fmt: skip

    pipeline.export(job)
    pipeline.quantize(job)
    pipeline.evaluate(job)
    manifest = json.loads((job.engine_models / "tiny-student-int8.json").read_text())
    assert manifest["input"]["size"] == [64, 64]
    assert (manifest["output"]["side"], manifest["output"]["side4"]) == ("side", "side4")  # its side outputs
    assert manifest["provenance"]["training"]["photos"] == 5
    assert manifest["provenance"]["exported"]["weights"] == pipeline.chosen_weights(job).name
    later = replace(job, config=TrainConfig(size=64))  # exported by a command that left out the run's settings
    assert "--steps 3 --batch-size 2" in pipeline.training_provenance(later)["command"]
    assert "--validate-every 2" in pipeline.training_provenance(later)["command"]
    assert f"--weights {pipeline.chosen_weights(job).stem}" in pipeline.training_provenance(later)["command"]
    assert set(manifest["metrics"]["dev_quality"]) == {"tiny"}
    assert manifest["metrics"]["latency_vs_u2netp"]["student_int8"] > 0

    pipeline.error_model(job)  # one validation photo is too few to fit: the default fit, reported on the 3 dev photos
    estimate = json.loads((job.engine_models / "tiny-student-int8.json").read_text())["error_estimate"]
    assert ErrorModel.from_dict(estimate) == DEFAULT_ERROR_MODEL and "default fit" in estimate["figures"]["fitted_on"]
    assert set(estimate["figures"]) >= {"features_chosen", "spearman_validation", "spearman_dev"}
    dev_rows = json.loads((pipeline.error_rows_dir(job) / "dev.json").read_text())
    assert all(0 <= row["features"][f] <= 1 for row in dev_rows for f in ("side", "side4"))  # measured

    photo = (job.dev_dir / "tiny" / "images" / "s0.jpg").read_bytes()
    settings = EngineSettings(model="tiny-student-int8", model_dir=job.engine_models, threads=1)
    result = remove_background(photo, Options(output=OutputMode.MASK), settings)
    assert (
        result.model_id == "tiny-student-int8"
        and result.width == cv2.imread(str(job.dev_dir / "tiny" / "images" / "s0.jpg")).shape[1]
    )
    assert result.estimated_error == pytest.approx(ErrorModel.from_dict(estimate).estimate(result.quality_features))


def test_int8_calibrates_on_the_training_part_of_every_data_folder(job: pipeline.Job) -> None:
    photos = pipeline.pool_photos(replace(job, photos=None))
    listed = photos.listing()
    held_out = {e.image for e in job.examples("validation")}
    assert held_out and not set(listed) & held_out  # never the validation photos
    assert set(listed) == {e.image for e in job.examples("train")}
    assert {p.parent.parent.name for p in photos.calibration()} == {"labelled", "unlabelled"}


def test_interpolation_lands_half_way_between_the_initial_and_the_trained_weights():
    trained = load_onnx_weights(U2NetP(), U2NETP)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(1.0)
    blended = interpolate_weights(trained, U2NETP, 0.5).state_dict()
    initial = load_onnx_weights(U2NetP(), U2NETP).state_dict()
    assert all(torch.allclose(blended[name] - initial[name], torch.full_like(initial[name], 0.5)) for name in initial)


def test_validation_split_holds_out_whole_sequences_and_every_nth_photo():
    frames = [f"{seq}_{i:05d}" for seq in ("bear", "car", "dog", "elk") for i in range(3)]
    held = Rule(every=2, by_sequence=True).held_out(frames)
    assert held == {f"{seq}_{i:05d}" for seq in ("bear", "dog") for i in range(3)}  # whole sequences only
    assert Rule(every=3, offset=1).held_out([f"p{i}" for i in range(7)]) == {"p1", "p4"}
    assert folder_key(Path("/anywhere/mine")) == "mine"


def test_teacher_candidates_cover_every_member_subset_with_and_without_flip():
    names = {c.name: c.maps for c in candidates(["a", "b"])}
    assert names == {"a": (0,), "a-flip": (0, 1), "b": (2,), "b-flip": (2, 3), "a+b": (0, 2), "a+b-flip": (0, 1, 2, 3)}
    low = [np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32)]
    assert combine(low, (4, 6)).shape == (4, 6) and int(combine(low, (4, 6))[0, 0]) == 128  # the mean, upsampled


def test_copy_paste_makes_the_target_the_union_of_both_subjects():
    rng = np.random.default_rng(0)
    photo, own = np.zeros((60, 80, 3), np.uint8), np.zeros((60, 80), np.uint8)
    own[:10, :10] = 255
    donor, donor_mask = np.full((40, 40, 3), 200, np.uint8), np.zeros((40, 40), np.uint8)
    donor_mask[10:30, 10:30] = 255
    pasted, (target,) = paste_subject(rng, photo, [own], donor, donor_mask)
    assert target[:10, :10].min() == 255  # the photo's own subject stays
    inside = target > 200
    assert inside.sum() > 100 + 150 and (pasted[inside & (own == 0)] > 150).all()  # the donor's pixels are pasted
    assert photo.max() == 0  # the input is not modified


def disc_photo(folder: Path, name: str, side: int, radius: int) -> Example:
    """A bright disc of `radius` px on a dark square photo of `side` px, its mask and a teacher label
    that sees the disc a little smaller (so the two targets can be told apart)."""
    for sub in ("images", "masks", "labels"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    photo, mask, label = np.full((side, side, 3), 30, np.uint8), np.zeros((side, side), np.uint8), None
    cv2.circle(mask, (side // 2, side // 2), radius, 255, -1)
    photo[mask > 0] = 220
    label = cv2.erode(mask, np.ones((5, 5), np.uint8))
    paths = [folder / "images" / f"{name}.png", folder / "masks" / f"{name}.png", folder / "labels" / f"{name}.png"]
    for path, image in zip(paths, (photo, mask, label), strict=True):
        cv2.imwrite(str(path), image)
    return Example(paths[0], paths[1], paths[2])


def test_a_close_up_is_a_window_inside_the_subject_and_its_labels_come_from_the_whole_photo(tmp_path: Path) -> None:
    example = disc_photo(tmp_path, "disc", 400, 150)  # the subject's box: 50..351
    mask = cv2.imread(str(example.truth), cv2.IMREAD_GRAYSCALE)
    for seed in range(20):
        x0, y0, x1, y1 = CLOSE_UPS.close_up_box(np.random.default_rng(seed), mask)
        assert 50 <= x0 < x1 <= 351 and 50 <= y0 < y1 <= 351
        assert 0.44 * 301 <= x1 - x0 <= 0.86 * 301 and 0.44 * 301 <= y1 - y0 <= 0.86 * 301

    always = replace(CLOSE_UPS, close_up=1.0)
    photo, teacher, truth, labelled = load_example(example, 64, np.random.default_rng(0), always)
    assert labelled == 1.0 and photo.shape == (3, 64, 64)
    assert truth.mean() > 0.6  # the subject fills the frame ...
    frame = np.concatenate([truth[0, 0], truth[0, -1], truth[0, :, 0], truth[0, :, -1]])
    assert frame.mean() > 0.3  # ... and runs off its edges
    assert 0 < float(np.abs(truth - teacher).mean()) < 0.1  # both targets cropped alike, each its own
    small = disc_photo(tmp_path, "small", 400, 20)  # too small for a close-up: the ordinary crop (all of it)
    _, _, truth, _ = load_example(small, 64, np.random.default_rng(0), always)
    assert truth.mean() < 0.05


def test_the_close_ups_group_crops_each_validation_photo_and_its_reference_once(tmp_path: Path) -> None:
    groups = {"a": [disc_photo(tmp_path / "a", "big", 300, 120), disc_photo(tmp_path / "a", "tiny", 300, 10)]}
    unlabelled = disc_photo(tmp_path / "b", "free", 300, 100)
    groups["b"] = [Example(unlabelled.image, None, unlabelled.teacher)]  # scored against its teacher label
    close_ups = close_up_group(groups, tmp_path / "close-ups")
    assert [e.image.name for e in close_ups] == ["a-big.png", "b-free.png"]  # the tiny disc has no close-up
    for example in close_ups:
        photo, reference = cv2.imread(str(example.image)), cv2.imread(str(example.truth), cv2.IMREAD_GRAYSCALE)
        assert photo.shape[:2] == reference.shape and reference.mean() > 128
        assert np.array_equal(photo[:, :, 0] > 128, reference > 128)  # the photo and its reference crop alike
    stamp = close_ups[0].image.stat().st_mtime_ns
    assert close_up_group(groups, tmp_path / "close-ups") == close_ups
    assert close_ups[0].image.stat().st_mtime_ns == stamp  # written once
    assert CLOSE_UP_GROUP == "close-ups"


def test_the_optimiser_is_a_setting_and_runs_begun_before_it_still_resume(tmp_path: Path) -> None:
    model = U2NetP()
    params = list(model.parameters())
    assert isinstance(make_optimiser(params, TrainConfig(optimizer="sgd")), torch.optim.SGD)
    assert isinstance(make_optimiser(params, TrainConfig()), torch.optim.AdamW)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimiser(params, TrainConfig(optimizer="lion"))
    config = TrainConfig()
    older = {k: v for k, v in asdict(config).items() if k != "optimizer"}  # a checkpoint from before the setting
    state = {"model": model.state_dict(), "optimiser": make_optimiser(params, config).state_dict(), "step": 7}
    state |= {"config": older, "rng": np.random.default_rng(0).bit_generator.state}
    torch.save(state, tmp_path / "checkpoint.pt")
    fresh = U2NetP()
    rng = np.random.default_rng(1)
    assert resume(tmp_path / "checkpoint.pt", fresh, make_optimiser(list(fresh.parameters()), config), rng, config) == 7
    with pytest.raises(ValueError, match="other settings"):
        sgd = TrainConfig(optimizer="sgd")
        resume(tmp_path / "checkpoint.pt", fresh, make_optimiser(list(fresh.parameters()), sgd), rng, sgd)


def test_an_unknown_augmentation_is_refused_before_any_step(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="augment must be one of full, no-paste, close-ups, none"):
        train([], U2NETP, tmp_path / "run", TrainConfig(augment="some"))
    assert not (tmp_path / "run").exists()


def test_the_manifest_command_rebuilds_the_run_settings_it_was_made_with(job: pipeline.Job) -> None:
    made = replace(
        job,
        teacher=TEACHERS["isnet"],
        weights="step-80",
        close_ups=True,
        config=TrainConfig(steps=160, lr=5e-6, warmup=5, augment="none", optimizer="sgd", mixed_precision=False),
    )
    words = shlex.split(pipeline.command_line(made))
    assert words[:4] == ["python", "-m", "training", "all"]
    again = job_from(parse(words[3:]))
    assert again.config == made.config
    assert (again.teacher, again.weights, again.interpolate, again.close_ups) == (made.teacher, "step-80", 0.5, True)
    assert (again.model_id, again.run_dir.name) == (made.model_id, "run")
    folders = [Path(os.path.normpath(REPO / p)) for p in (*again.data, again.labels_root)]
    assert folders == [*made.data, made.labels_root]


def test_a_run_that_held_out_the_validation_split_is_compared_on_every_group(tmp_path: Path) -> None:
    folders = ["../shared/data/train", "../shared/data/extra/davis"]
    held_out = {"folders": folders, "validation_photos": {"train": 30, "extra/davis": 30}}
    (tmp_path / "split-run.json").write_text(json.dumps({"provenance": {"training": held_out}}))
    (tmp_path / "older.json").write_text(json.dumps({"provenance": {"training": {"folders": folders}}}))
    assert trained_groups("split-run", tmp_path) == set()  # its validation photos were never trained on
    assert trained_groups("older", tmp_path) == {"train", "extra/davis"}  # trained before the split existed


def test_the_split_s_photos_scored_against_the_teacher_get_their_labels_and_no_others(tmp_path: Path) -> None:
    make_set(tmp_path / "labelled", 2, masks=True, seed=4)
    make_set(tmp_path / "unlabelled", 2, masks=False, seed=5)
    labels = tmp_path / "labels"
    groups = {f: find_examples(tmp_path / f, labels) for f in ("labelled", "unlabelled")}
    teacher = Teacher((Member("u2netp", U2NETP, 320),))

    assert label_unlabelled(groups, teacher, labels) == 2
    assert all(e.teacher.is_file() for e in groups["unlabelled"])
    assert not any(e.teacher.exists() for e in groups["labelled"])  # scored against their truth
    assert label_unlabelled(groups, teacher, labels) == 0  # cached


def test_labelling_without_the_teachers_weights_says_how_to_fetch_them(tmp_path: Path) -> None:
    make_set(tmp_path / "unlabelled", 1, masks=False, seed=6)
    groups = {"unlabelled": find_examples(tmp_path / "unlabelled", tmp_path / "labels")}
    absent = Teacher((Member("isnet", tmp_path / "isnet-fp32.onnx", 1024),))
    with pytest.raises(FileNotFoundError, match="python -m training fetch"):
        label_unlabelled(groups, absent, tmp_path / "labels")


def test_labels_cached_for_one_folder_are_not_taken_for_another_of_its_name(tmp_path: Path) -> None:
    """Labels were keyed by folder name and stem: a second catalogue called `photos` trained on the
    first one's labels, and a photo replaced under its name kept its old label, without a word."""
    make_set(tmp_path / "a" / "photos", 2, masks=False, seed=7)
    make_set(tmp_path / "b" / "photos", 2, masks=False, seed=8)
    labels, teacher = tmp_path / "labels", Teacher((Member("u2netp", U2NETP, 320),))
    first = [p for p in sorted((tmp_path / "a" / "photos" / "images").iterdir())]
    assert make_labels(first, teacher, labels) == 2
    with pytest.raises(ValueError, match="another folder"):
        make_labels(sorted((tmp_path / "b" / "photos" / "images").iterdir()), teacher, labels)
    replaced = first[0]
    cv2.imwrite(str(replaced), np.full((64, 64, 3), 200, np.uint8))
    os.utime(replaced, (time.time() + 5, time.time() + 5))  # written after its label
    assert make_labels(first, teacher, labels) == 1  # relabelled; the other one is still good


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".PNG"])
def test_masks_saved_in_another_image_format_are_read(tmp_path: Path, suffix: str) -> None:
    """Only masks/<stem>.png was looked for: a catalogue of .jpg masks trained with no ground truth."""
    make_set(tmp_path / "set", 2, masks=True, seed=9)
    for mask in (tmp_path / "set" / "masks").iterdir():
        mask.rename(mask.with_suffix(suffix))
    assert all(e.truth is not None for e in find_examples(tmp_path / "set", tmp_path / "labels"))


@pytest.mark.parametrize("step", ["all", "export", "quantize", "train"])
def test_a_run_on_your_own_data_must_name_its_model_and_run(step: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --model-id a fine-tune overwrote the shipped default model (u2netp-distilled-int8)."""
    with pytest.raises(SystemExit):
        parse([step, "--data", "catalogue"])
    assert "--model-id" in capsys.readouterr().err
    assert parse([step, "--data", "catalogue", "--run", "mine", "--model-id", "mine-int8"]).model_id == "mine-int8"


def test_validating_on_your_own_data_needs_a_run_and_no_model_id(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/training.md's `validate --candidates u2netp-int8,mine-int8 --data DIR` was refused for want of a
    --model-id, although validate makes no model; it writes only <run>/validation.json, so the run is named."""
    args = parse(["validate", "--run", "mine", "--candidates", "u2netp-int8,mine-int8", "--data", "catalogue"])
    assert (args.run, args.candidates) == ("mine", "u2netp-int8,mine-int8")
    with pytest.raises(SystemExit):
        parse(["validate", "--candidates", "u2netp-int8,mine-int8", "--data", "catalogue"])
    error = capsys.readouterr().err.splitlines()[-1]  # the usage lines above it name every flag
    assert "--run" in error and "--model-id" not in error


def test_a_fine_tune_s_manifest_names_the_data_it_was_trained_on(job: pipeline.Job) -> None:
    terms = pipeline.terms_of({"folders": ["/home/me/catalogue"]})
    assert "/home/me/catalogue" in terms and "research use only" not in terms.split(";")[0]
    assert "research" in pipeline.terms_of({"folders": ["../shared/data/train"]})


def test_without_dev_sets_evaluate_reports_validation_only(job: pipeline.Job, tmp_path: Path, capsys) -> None:
    """A user fine-tuning on their own machine has no ../shared/data/dev: evaluate was a traceback."""
    assert pipeline.dev_sets(replace(job, dev_dir=tmp_path / "absent")) == {}
    assert "no dev sets" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fault", ["half-size mask", "red mask", "text as photo", "photo cut short", "mask cut short", "JPEG mask cut short"]
)
def test_a_catalogue_s_faults_are_listed_before_any_work(tmp_path: Path, fault: str) -> None:
    """A half-size mask stopped a run at its second step; a red-on-black mask trained as 30 %
    subject without a word; a text file named .jpg was a traceback in `teacher`; a photo or a mask
    cut short (an interrupted copy) passed, and trained as a grey lower part (libjpeg fills it; a
    PNG cv2 refuses, so only a JPEG mask, which masks/ takes too, showed it for masks)."""
    make_set(tmp_path / "set", 3, masks=True, seed=10)
    photo, mask = tmp_path / "set" / "images" / "s1.jpg", tmp_path / "set" / "masks" / "s1.png"
    if fault == "half-size mask":
        truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(mask), cv2.resize(truth, (truth.shape[1] // 2, truth.shape[0] // 2)))
    elif fault == "red mask":
        truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(mask), cv2.merge([np.zeros_like(truth), np.zeros_like(truth), truth]))
    elif fault == "photo cut short":
        photo.write_bytes(photo.read_bytes()[: photo.stat().st_size * 2 // 3])
    elif fault == "mask cut short":
        mask.write_bytes(mask.read_bytes()[: mask.stat().st_size * 2 // 3])
    elif fault == "JPEG mask cut short":
        truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        mask.unlink()
        cv2.imwrite(str(mask.with_suffix(".jpg")), truth)
        whole = mask.with_suffix(".jpg").read_bytes()
        mask.with_suffix(".jpg").write_bytes(whole[: len(whole) * 2 // 3])
    else:
        photo.write_text("not a photo")
    examples = find_examples(tmp_path / "set", tmp_path / "labels")
    with pytest.raises(ValueError, match="s1"):
        check_examples(examples)
    check_examples([e for e in examples if "s1" not in e.image.name])  # the others pass


def test_a_run_resumed_on_other_data_is_refused_not_rewritten(job: pipeline.Job, tmp_path: Path) -> None:
    """Resumed with a grown folder, a finished run trained nothing but rewrote data.json, and the
    manifest then described photos the weights never saw."""
    run = replace(job, run_dir=tmp_path / "run", config=replace(job.config, steps=1, validate_every=100))
    pipeline.teacher(run)
    pipeline.train(run)
    before = (run.run_dir / "data.json").read_text()
    pipeline.train(run)  # the same data: a no-op resume
    make_set(tmp_path / "more", 2, masks=True, seed=11)
    grown = replace(run, data=[*run.data, tmp_path / "more"])
    pipeline.teacher(grown)
    with pytest.raises(ValueError, match="other data"):
        pipeline.train(grown)
    assert (run.run_dir / "data.json").read_text() == before


def test_a_step_run_out_of_order_says_so_without_a_traceback(tmp_path: Path, capsys) -> None:
    """export on a run never trained was a FileNotFoundError traceback (checkpoint.pt)."""
    make_set(tmp_path / "set", 2, masks=True, seed=12)
    args = ["export", "--data", str(tmp_path / "set"), "--run", "never-trained", "--model-id", "never-int8"]
    assert training_main([*args, "--engine-models", str(tmp_path / "models")]) == 2
    error = capsys.readouterr().err
    assert "export" in error and "never-trained" in error and "Traceback" not in error


def test_photos_in_formats_training_cannot_read_are_named_not_skipped_silently(tmp_path: Path, capsys) -> None:
    """A catalogue of a.jpg, b.tif and c.heic trained on a.jpg alone, without a word. Training now
    reads every format the engine takes (HEIC too); a camera raw file, which neither reads, is named."""
    make_set(tmp_path / "set", 2, masks=True, seed=13)
    photo = cv2.imread(str(tmp_path / "set" / "images" / "s1.jpg"))
    cv2.imwrite(str(tmp_path / "set" / "images" / "s2.tif"), photo)
    shutil.copyfile(DATA / "rotated-6.heic", tmp_path / "set" / "images" / "s3.heic")
    (tmp_path / "set" / "images" / "s4.dng").write_bytes(b"II*\x00 a camera raw file")
    assert [p.name for p in images_of(tmp_path / "set")] == ["s0.jpg", "s1.jpg", "s2.tif", "s3.heic"]
    warn_left_out([tmp_path / "set"])
    said = capsys.readouterr().out
    assert "s4.dng" in said and "s3.heic" not in said


def test_a_phone_catalogue_s_heic_photos_are_trained_and_validated_on(
    job: pipeline.Job, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An iPhone catalogue's HEIC photos were left out of a fine-tune (cv2 cannot read them): it
    trained on the catalogue's JPEGs alone. Now the teacher labels them, the run counts and trains
    on them, and the validation photo, a HEIC turned by EXIF, is scored against its upright mask."""
    catalogue = tmp_path / "phone"
    make_set(catalogue, 3, masks=True, seed=19)
    for name in ("IMG_0001.HEIC", "IMG_0002.heic"):
        shutil.copyfile(DATA / "rotated-6.heic", catalogue / "images" / name)  # stored 48x32, EXIF 6
        upright = np.zeros((48, 32), np.uint8)
        upright[:24] = 255  # the red half, on top once turned
        cv2.imwrite(str(catalogue / "masks" / f"{Path(name).stem}.png"), upright)
    (catalogue / "validation.txt").write_text("IMG_0001\n")
    run = replace(
        job,
        data=[catalogue],
        run_dir=tmp_path / "run",
        labels_root=tmp_path / "labels",
        config=replace(job.config, steps=1, checkpoint_every=1, validate_every=1),
    )
    pipeline.teacher(run)
    assert len(list(run.labels.rglob("*.png"))) == 5
    pipeline.train(run)
    said = capsys.readouterr().out
    assert "training on 4 photos (4 with ground truth)" in said and "validating on 1" in said
    data = json.loads((run.run_dir / "data.json").read_text())
    assert (data["photos"], data["with_ground_truth"], data["validation_photos"]) == (4, 4, {"phone": 1})
    [scored] = pipeline.validation_log(run.run_dir)
    assert scored["table"]["phone"]["reference"] == "truth" and 0 <= scored["table"]["phone"]["mae"] <= 1


@pytest.mark.parametrize(
    "fault", ["0/1 values", "16-bit 0/255", "subject in alpha on black", "subject in alpha on white"]
)
def test_a_mask_training_would_read_as_another_subject_is_refused(tmp_path: Path, fault: str) -> None:
    """A mask of 0 and 1 (an annotation tool's), a 16-bit one of 0 and 255, or a cut-out whose
    subject is its transparency passed the check, and training read them as no subject (or, on
    white, as all subject), without a word: the model learnt to drop the catalogue's subjects."""
    make_set(tmp_path / "set", 3, masks=True, seed=14)
    mask = tmp_path / "set" / "masks" / "s1.png"
    truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    if fault == "0/1 values":
        written = (truth > 127).astype(np.uint8)
    elif fault == "16-bit 0/255":
        written = truth.astype(np.uint16)
    else:
        gray = np.full_like(truth, 0 if fault.endswith("black") else 255)
        written = cv2.merge([gray, gray, gray, truth])
    cv2.imwrite(str(mask), written)
    examples = find_examples(tmp_path / "set", tmp_path / "labels")
    with pytest.raises(ValueError, match=r"s1\.png: .*255 = subject"):
        check_examples(examples)


@pytest.mark.parametrize("kind", ["8-bit", "16-bit full range", "opaque RGBA", "empty"])
def test_masks_that_read_as_they_are_meant_pass(tmp_path: Path, kind: str) -> None:
    """The check refuses no mask that training reads as its author meant it."""
    make_set(tmp_path / "set", 2, masks=True, seed=15)
    mask = tmp_path / "set" / "masks" / "s1.png"
    truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    if kind == "16-bit full range":
        cv2.imwrite(str(mask), truth.astype(np.uint16) * 257)
    elif kind == "opaque RGBA":
        cv2.imwrite(str(mask), cv2.merge([truth, truth, truth, np.full_like(truth, 255)]))
    elif kind == "empty":  # a photo without a subject: all background
        cv2.imwrite(str(mask), np.zeros_like(truth))
    check_examples(find_examples(tmp_path / "set", tmp_path / "labels"))


def test_masks_of_no_photo_are_named_not_ignored_silently(tmp_path: Path, capsys) -> None:
    """A catalogue whose masks were named s0_mask.png (or 'a 1.png' for 'a1.jpg') trained on the
    teacher alone, as if it had no masks, without a word."""
    make_set(tmp_path / "set", 3, masks=True, seed=16)
    make_set(tmp_path / "unlabelled", 2, masks=False, seed=17)
    masks = tmp_path / "set" / "masks"
    (masks / "s1.png").rename(masks / "s1_mask.png")
    warn_unmatched_masks([tmp_path / "set", tmp_path / "unlabelled"])
    out = capsys.readouterr().out
    assert "s1_mask.png" in out and "s0.png" not in out and "teacher alone" in out
    (masks / "s1_mask.png").rename(masks / "s1.png")
    warn_unmatched_masks([tmp_path / "set"])
    assert capsys.readouterr().out == ""


def test_two_photos_of_one_name_are_refused_before_any_work(tmp_path: Path) -> None:
    """images/s1.jpg and images/s1.png (two photos of one size) shared one teacher label, the one
    labelled last, and one mask, without a word: one of them trained on the other's subject."""
    make_set(tmp_path / "set", 3, masks=True, seed=18)
    photo = cv2.imread(str(tmp_path / "set" / "images" / "s1.jpg"))
    cv2.imwrite(str(tmp_path / "set" / "images" / "s1.png"), photo[::-1])
    with pytest.raises(ValueError, match=r"s1\.jpg, s1\.png"):
        check_examples(find_examples(tmp_path / "set", tmp_path / "labels"))


@pytest.mark.parametrize(
    ("model_id", "taken"),
    [
        ("u2netp-int8", "u2netp and u2netp-int8"),
        ("modnet-int8", "modnet-int8"),
        ("u2net-int8", "(u2net and )?u2net-int8"),  # its fp32 u2net is there after make models-all
    ],
)
def test_a_fine_tune_may_not_take_the_id_of_a_model_it_did_not_make(
    model_id: str, taken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--data DIR --run mine --model-id u2netp-int8` overwrote the shipped u2netp-int8 (and its
    fp32 companion u2netp), whose manifest kept "shipped": true for the fine-tune."""
    with pytest.raises(SystemExit):
        parse(["all", "--data", "catalogue", "--run", "mine", "--model-id", model_id])
    error = capsys.readouterr().err.splitlines()[-1]
    assert re.search(rf"--model-id {model_id} would overwrite {taken} in ", error), error


def test_a_fine_tune_rebuilds_its_own_model(tmp_path: Path) -> None:
    """The model a run made (its manifest's command names the run) is its to rebuild; a new id is free."""
    manifest = {"id": "mine-int8", "provenance": {"command": "python -m training all --run mine --model-id mine-int8"}}
    (tmp_path / "mine-int8.json").write_text(json.dumps(manifest))
    models = str(tmp_path)
    for run, model_id in (("mine", "mine-int8"), ("other", "other-int8")):
        args = ["export", "--data", "catalogue", "--run", run, "--model-id", model_id]
        assert parse([*args, "--engine-models", models]).model_id == model_id
    with pytest.raises(SystemExit):  # another run's model
        parse(["export", "--data", "catalogue", "--run", "other", "--model-id", "mine-int8", "--engine-models", models])


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '{"provenance": "hand-written"}', '{"provenance": {"command": 3}}']
)
def test_a_manifest_that_cannot_be_read_counts_as_taken_not_a_traceback(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-edited or half-written manifest under the id stopped the command line in a traceback
    (JSONDecodeError, AttributeError) before it could say anything."""
    (tmp_path / "mine-int8.json").write_text(text)
    with pytest.raises(SystemExit):
        parse(
            [
                "export",
                "--data",
                "catalogue",
                "--run",
                "mine",
                "--model-id",
                "mine-int8",
                "--engine-models",
                str(tmp_path),
            ]
        )
    assert "would overwrite mine-int8" in capsys.readouterr().err


def test_error_rows_cached_for_one_model_file_are_not_taken_for_another(tmp_path: Path) -> None:
    """error-model kept the validation rows (features, true MAE) it had cut with the run's first
    model: exported again (--weights step-N, --interpolate) and quantized again under its id, the
    model got an error estimate fitted and scored on the other model's cut-outs."""
    job = pipeline.Job(
        data=[],
        run_dir=tmp_path / "run",
        labels_root=tmp_path / "labels",
        model_id="mine-int8",
        config=TrainConfig(),
        teacher=TEACHERS["isnet"],
        init=U2NETP,
        engine_models=tmp_path,
    )
    manifest = {"id": "mine-int8", "file": "mine-int8.onnx", "sha256": "a" * 64}
    (tmp_path / "mine-int8.json").write_text(json.dumps(manifest))
    first = pipeline.error_rows_dir(job)
    assert pipeline.error_rows_dir(job) == first  # the same file: its rows are reused
    (tmp_path / "mine-int8.json").write_text(json.dumps(manifest | {"sha256": "b" * 64}))
    assert pipeline.error_rows_dir(job) != first


def test_a_shared_step_s_error_names_no_run(tmp_path: Path, capsys) -> None:
    """`teacher --data DIR` with a fault said 'error in teacher (run student)': the shipped
    default's run, which a step that makes no run never touches."""
    make_set(tmp_path / "set", 2, masks=True, seed=19)
    (tmp_path / "set" / "images" / "s1.jpg").write_text("not a photo")
    assert training_main(["teacher", "--data", str(tmp_path / "set"), "--labels", str(tmp_path / "labels")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error in teacher:") and "student" not in error


def test_training_before_the_teacher_says_to_run_the_teacher(job: pipeline.Job, tmp_path: Path) -> None:
    """`train` on a folder whose photos have no teacher labels yet failed mid-run with 'cannot read
    mask <a label's path>', a file the user never made; it now refuses before any step, naming the
    command that makes them."""
    unlabelled = replace(job, labels_root=tmp_path / "labels", run_dir=tmp_path / "run")

    with pytest.raises(ValueError, match=r"no teacher label.*python -m training teacher") as refused:
        pipeline.train(unlabelled)

    command = shlex.split(str(refused.value).split("`")[1])
    assert command[command.index("--teacher") + 1] == job.teacher.name
    in_repo = [(REPO / command[i + 1]).resolve() for i, word in enumerate(command) if word == "--data"]
    assert in_repo == [folder.resolve() for folder in job.data]  # run from the repository, as every command
    assert (REPO / command[command.index("--labels") + 1]).resolve() == (tmp_path / "labels").resolve()

    assert not (tmp_path / "run" / "checkpoint.pt").exists()
