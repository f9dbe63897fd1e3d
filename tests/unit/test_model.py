"""Model loading: one checked session per process, clear errors for a broken deployment."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

import engine
from engine.cpus import cgroup_cpu_limit, usable_cpus
from engine.errors import (
    DeploymentError,
    InputError,
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    SettingError,
)
from engine.memory import resident_mb
from engine.model import REDUCING_GAP, create_session, get_model, model_input
from engine.settings import DEFAULT_MODEL, MEMORY_BUDGET_SHARE, MODELS_DIR, EngineSettings
from modelbuild.paths import DATA


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the default model and its manifest."""
    for suffix in (".json", ".onnx"):
        shutil.copy(MODELS_DIR / f"{DEFAULT_MODEL}{suffix}", tmp_path / f"{DEFAULT_MODEL}{suffix}")
    return tmp_path


def test_session_is_created_once_and_reused(model_copy: Path) -> None:
    first = get_model(DEFAULT_MODEL, model_copy, 1)
    (model_copy / f"{DEFAULT_MODEL}.onnx").unlink()  # a reload would now fail
    assert get_model(DEFAULT_MODEL, model_copy, 1) is first


def test_a_session_runs_on_the_threads_it_was_asked_for(model_copy: Path) -> None:
    one = get_model(DEFAULT_MODEL, model_copy, 1)
    two = get_model(DEFAULT_MODEL, model_copy, 2)
    assert two is not one
    assert [m.session.get_session_options().intra_op_num_threads for m in (one, two)] == [1, 2]


def test_a_model_whose_manifest_states_its_arena_is_first_run_by_the_first_photo(model_copy: Path) -> None:
    """Running the model once at load (to allocate ONNX Runtime's arena) was a third of the cold
    start. A manifest that states the arena (`memory.arena_mib`) skips that run; until the first
    photo has run, the model says how much memory that run will take, for the budget to count."""
    arena = json.loads((model_copy / f"{DEFAULT_MODEL}.json").read_text())["memory"]["arena_mib"]
    model = get_model(DEFAULT_MODEL, model_copy, 1)
    assert not model.has_run and model.pending_arena_mb == arena > 0
    before = resident_mb()
    model.predict(np.zeros((240, 320, 3), np.uint8))
    assert model.has_run and model.pending_arena_mb == 0
    assert resident_mb() - before <= arena


def test_a_model_without_a_stated_arena_runs_once_when_it_loads(model_copy: Path) -> None:
    manifest_file = model_copy / f"{DEFAULT_MODEL}.json"
    manifest = json.loads(manifest_file.read_text())
    del manifest["memory"]
    manifest_file.write_text(json.dumps(manifest))
    model = get_model(DEFAULT_MODEL, model_copy, 1)
    assert model.has_run and model.pending_arena_mb == 0


def logits_model(folder: Path, family: str) -> Path:
    """A one-node model of `family` (its output: the red channel of the input tensor, as logits)
    and its manifest, without min-max: the family alone decides what the output means."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [1.0, 0.0, 0.0])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["img", "w"], ["logits"])],
        "logits",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, 16, 16])],
        [weight],
    )
    model = folder / f"{family}-tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(model))
    manifest = {
        "id": model.stem,
        "family": family,
        "file": model.name,
        "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "bytes": model.stat().st_size,
        "input": {"name": "img", "size": [16, 16], "mean": [0.5] * 3, "std": [0.25] * 3},
        "output": {"name": "logits", "normalize": "none"},
    }
    (folder / f"{model.stem}.json").write_text(json.dumps(manifest))
    return model


def test_a_model_of_another_family_needs_only_its_manifest(tmp_path: Path) -> None:
    photo = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    logits = model_input(photo, (16, 16), [0.5] * 3, [0.25] * 3)[0, 0]  # the red channel, as fed
    assert logits.min() < -0.5 and logits.max() > 0.5
    for family, expected in (("birefnet", 1 / (1 + np.exp(-logits))), ("u2net", np.clip(logits, 0, 1))):
        model = get_model(logits_model(tmp_path, family).stem, tmp_path, 1)
        assert model.family.name == family
        np.testing.assert_allclose(model.predict(photo), expected, atol=1e-5)


def test_an_unknown_family_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "birefnet-tiny.json"
    logits_model(tmp_path, "birefnet")
    manifest.write_text(manifest.read_text().replace('"birefnet"', '"no-such-family"'))
    with pytest.raises(ModelError, match="unknown family"):
        get_model("birefnet-tiny", tmp_path, 1)


def test_an_error_estimate_on_a_side_output_the_model_lacks_fails_the_load(tmp_path: Path) -> None:
    logits_model(tmp_path, "u2net")
    manifest = tmp_path / "u2net-tiny.json"
    data = json.loads(manifest.read_text())
    data["error_estimate"] = {"intercept": -3.0, "weights": {"side": 1.0, "side4": 0.5}}
    manifest.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"weighs \['side', 'side4'\] but it names no such side output"):
        get_model("u2net-tiny", tmp_path, 1)
    data["output"]["side"] = "side"  # one of the two named: still the other is missing
    manifest.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"weighs \['side4'\]"):
        get_model("u2net-tiny", tmp_path, 1)


def test_missing_model_file_says_how_to_build_it(model_copy: Path) -> None:
    """`make models` runs in a clone only: a pip-installed bgremove (no Makefile) is told to point
    ENGINE_MODEL_DIR at the clone's built models."""
    (model_copy / f"{DEFAULT_MODEL}.onnx").unlink()
    with pytest.raises(ModelNotFoundError, match="make models") as raised:
        get_model(DEFAULT_MODEL, model_copy, 1)
    assert "clone of the repository" in str(raised.value) and "ENGINE_MODEL_DIR" in str(raised.value)


def test_altered_model_file_is_refused(model_copy: Path) -> None:
    path = model_copy / f"{DEFAULT_MODEL}.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        get_model(DEFAULT_MODEL, model_copy, 1)


def test_truncated_model_file_is_refused(model_copy: Path) -> None:
    path = model_copy / f"{DEFAULT_MODEL}.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelIntegrityError, match="bytes"):
        get_model(DEFAULT_MODEL, model_copy, 1)


def test_unknown_model_lists_the_known_ones(model_copy: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=DEFAULT_MODEL):
        get_model("nope", model_copy, 1)


def test_every_committed_manifest_matches_its_model_file() -> None:
    for manifest in MODELS_DIR.glob("*.json"):
        data = json.loads(manifest.read_text())
        assert data["id"] == manifest.stem
        assert {"sha256", "bytes", "input", "output", "provenance", "metrics"} <= set(data)
    get_model(DEFAULT_MODEL, MODELS_DIR, 1)  # the shipped default loads and passes its check


def test_settings_read_from_environment() -> None:
    settings = EngineSettings.from_env(
        {
            "ENGINE_MODEL": "u2netp",
            "ENGINE_THREADS": "1",
            "ENGINE_MAX_MEGAPIXELS": "12.5",
            "ENGINE_MEMORY_BUDGET_MB": "900",
        }
    )
    assert (settings.model, settings.threads, settings.max_megapixels) == ("u2netp", 1, 12.5)
    assert settings.memory_budget_mb == 900
    defaults = EngineSettings.from_env({})
    assert defaults.model == DEFAULT_MODEL and defaults.threads == usable_cpus()
    assert defaults.memory_budget_mb is None  # no budget outside Lambda unless one is set


def test_the_memory_budget_follows_the_lambda_functions_memory() -> None:
    in_lambda = EngineSettings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"})
    assert in_lambda.memory_budget_mb == pytest.approx(2048 * MEMORY_BUDGET_SHARE)
    explicit = EngineSettings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048", "ENGINE_MEMORY_BUDGET_MB": "700"})
    assert explicit.memory_budget_mb == 700


@pytest.mark.parametrize(("memory_mb", "vcpus"), [(512, 1), (1024, 1), (1769, 1), (2048, 2), (3008, 2), (10240, 6)])
def test_in_lambda_the_threads_follow_the_cpu_time_its_memory_buys(memory_mb: int, vcpus: int) -> None:
    """Lambda shows every function 2+ CPUs but gives it one vCPU's time per 1,769 MB: under one
    vCPU a second inference thread only queues for the same time (studies/results/cpu_quota.md:
    at 1024 MB one thread 469 and 382 ms in two runs, two 409-595)."""
    settings = EngineSettings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)})
    assert settings.threads == min(usable_cpus(), vcpus)


def test_inference_threads_do_not_spin_between_runs(tmp_path: Path) -> None:
    """Spinning pool threads are charged to a Lambda function's CPU quota and throttle the
    refinement after each inference (2048 MB: 259 and 233 ms against 227 and 225, docs/deploy.md)."""
    session = create_session(MODELS_DIR / "u2netp-int8.onnx", 2)
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_more_threads_than_cpus_are_capped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """64 threads on 2 cores took 10.6 s an image: oversubscribed ONNX Runtime threads spin."""
    with caplog.at_level(logging.WARNING, logger="engine.settings"):
        settings = EngineSettings.from_env({"ENGINE_THREADS": str(usable_cpus() + 62)})
    assert settings.threads == usable_cpus()
    assert "ENGINE_THREADS" in caplog.text and "CPU" in caplog.text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENGINE_THREADS", "0"),
        ("ENGINE_THREADS", "two"),
        ("ENGINE_THREADS", "abc"),
        ("ENGINE_THREADS", "\uff12"),  # a full-width 2: digits are ASCII only
        ("ENGINE_MAX_MEGAPIXELS", "-1"),
        ("ENGINE_MAX_MEGAPIXELS", "64MP"),
        ("ENGINE_MAX_MEGAPIXELS", "inf"),
        ("ENGINE_MEMORY_BUDGET_MB", "2GB"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
    ],
)
def test_a_bad_setting_is_a_deployment_error_not_a_bad_image(name: str, value: str) -> None:
    with pytest.raises(SettingError, match=name) as raised:
        EngineSettings.from_env({name: value})
    assert isinstance(raised.value, DeploymentError) and not isinstance(raised.value, InputError)


def test_cgroup_quota_limits_the_thread_count(tmp_path: Path) -> None:
    v2 = tmp_path / "cpu.max"
    v2.write_text("150000 100000\n")
    assert cgroup_cpu_limit(v2, tmp_path / "none", tmp_path / "none") == 1.5
    v2.write_text("max 100000\n")
    assert cgroup_cpu_limit(v2, tmp_path / "none", tmp_path / "none") is None
    quota, period = tmp_path / "quota", tmp_path / "period"
    quota.write_text("200000")
    period.write_text("100000")
    assert cgroup_cpu_limit(tmp_path / "none", quota, period) == 2.0
    assert 1 <= usable_cpus()


def test_a_large_photo_is_pre_reduced_without_changing_what_the_model_sees() -> None:
    """The whole-factor box reduction before Lanczos (REDUCING_GAP) is only a shortcut: the tensor
    stays within a few levels of a Lanczos resize of the full photo."""
    rng = np.random.default_rng(3)
    smooth = cv2.resize(rng.integers(0, 256, (15, 20, 3), dtype=np.uint8), (1600, 1200), interpolation=cv2.INTER_CUBIC)
    size, mean, std = (80, 80), [0.0] * 3, [1.0] * 3
    reduced = model_input(smooth, size, mean, std)
    full = Image.fromarray(smooth[:, :, ::-1].copy()).resize(size, Image.Resampling.LANCZOS)
    exact = np.asarray(full, dtype=np.float32).transpose(2, 0, 1)[None]
    exact /= exact.max()
    assert smooth.shape[1] // (REDUCING_GAP * size[0]) >= 2  # the shortcut is taken here
    assert np.abs(reduced - exact).mean() < 1 / 255
    assert np.abs(reduced - exact).max() < 3 / 255


def test_the_portrait_matting_model_cuts_out_a_person_and_nothing_from_a_blank_photo() -> None:
    """modnet-int8 gives an alpha, not a map to stretch (its manifest: no min-max): a person comes
    out whole, and a blank photo has no subject (a stretched map would invent one)."""
    person = DATA / "extra" / "people" / "images" / "ccp_0002.jpg"  # one of its build's held-out photos
    truth = np.asarray(Image.open(DATA / "extra" / "people" / "masks" / "ccp_0002.png").convert("L")) >= 128
    cutout = engine.cut_out(person.read_bytes(), model="modnet-int8", output="mask")
    alpha = np.asarray(Image.open(io.BytesIO(cutout.data)).convert("L")) >= 128
    assert np.count_nonzero(alpha & truth) / np.count_nonzero(alpha | truth) > 0.9
    blank = cv2.imencode(".png", np.full((300, 400, 3), 128, np.uint8))[1].tobytes()
    model = get_model("modnet-int8", MODELS_DIR, 1)
    assert model.infer(cv2.imdecode(np.frombuffer(blank, np.uint8), cv2.IMREAD_COLOR)).peak < 0.5
    assert engine.cut_out(blank, model="modnet-int8").findings()["no_subject"] is True
