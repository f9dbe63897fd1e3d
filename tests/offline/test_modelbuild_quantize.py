"""The quantization recipe on the real u2netp with two calibration photos: the noise ranking finds
the node that breaks the INT8 output, and keeping its island in float repairs it. The shipped INT8
models stay close to fp32 on a real photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from infra.select_models import shipped_models
from modelbuild.evaluate import mean_abs_error, open_session, predict_maps
from modelbuild.graph import prepare_float_graph
from modelbuild.paths import DATA, ENGINE_MODELS, SOURCE_MODELS
from modelbuild.photos import PhotoReader, PhotoSplit, photo_tensor
from modelbuild.quantize import quantize_qdq
from modelbuild.recipes import RECIPES
from modelbuild.sensitivity import activations, float_island, noisiest_nodes, tensor_sqnr

DEV_PHOTO = DATA / "dev" / "horse" / "images" / "horse001.jpg"
SHIPPED = shipped_models(ENGINE_MODELS)
SHIPPED_INT8 = {r.model_id: r for r in RECIPES.values() if r.model_id in SHIPPED}
PERSON = DATA / "extra" / "people" / "images" / "ccp_0002.jpg"  # for the people model, a photo of its kind


def test_noisiest_node_found_and_its_float_island_repairs_the_output(tmp_path: Path) -> None:
    float_model = prepare_float_graph(SOURCE_MODELS / "u2netp.onnx", tmp_path / "float.onnx")
    graph = onnx.load(str(float_model)).graph
    assert [o.name for o in graph.output] == ["1959"], "only the fused output is kept"
    calibration = [photo_tensor(p) for p in PhotoSplit(calibration_count=2).calibration()]
    ranges, quantized = tmp_path / "ranges.json", tmp_path / "int8.onnx"
    quantize_qdq(float_model, quantized, ranges, calibration=PhotoReader("input.1", calibration))

    check = [photo_tensor(DEV_PHOTO)]
    reference = predict_maps(open_session(float_model), check)
    all_int8 = mean_abs_error(predict_maps(open_session(quantized), check), reference)

    quant_acts = activations(quantized, "input.1", calibration[:1])
    noisy = noisiest_nodes(graph, tensor_sqnr(activations(float_model, "input.1", calibration[:1]), quant_acts))
    island = float_island(graph, noisy[0].tensor, set(quant_acts))
    quantize_qdq(float_model, quantized, ranges, island)
    repaired = mean_abs_error(predict_maps(open_session(quantized), check), reference)

    assert all_int8 > 0.03, "fully INT8 u2netp is known to be broken"
    assert repaired < all_int8 / 4 and repaired < 0.02, (island, all_int8, repaired)


@pytest.mark.parametrize("model_id", sorted(SHIPPED_INT8))
def test_shipped_int8_stays_close_to_fp32_on_a_real_photo(model_id: str, tmp_path: Path) -> None:
    recipe = SHIPPED_INT8[model_id]
    source = SOURCE_MODELS / f"{recipe.source}.onnx"  # `make test` fetches MODNet's (training fetch)
    if not source.is_file():
        pytest.skip(f"{source} is not fetched here: `python -m training fetch --teacher {recipe.source}`")
    photo = PERSON if recipe.feed.family == "modnet" else DEV_PHOTO
    tensors = [photo_tensor(photo, recipe.input_size, recipe.feed.mean, recipe.feed.std)]
    int8 = predict_maps(open_session(ENGINE_MODELS / f"{model_id}.onnx"), tensors)
    reference = prepare_float_graph(source, tmp_path / "float.onnx", recipe.input_size)
    fp32 = predict_maps(open_session(reference), tensors)
    assert mean_abs_error(int8, fp32) < 0.02
    assert np.corrcoef(int8[0].ravel(), fp32[0].ravel())[0, 1] > 0.98
