"""`quantize`: from a verified source model to a checked INT8 engine model and its manifest."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort

from .errors import AccuracyError
from .evaluate import compare_latency, image_errors, mean_abs_error, open_session, predict_maps
from .graph import expose_side_outputs, prepare_float_graph
from .manifests import describe_model, read_manifest, write_manifest
from .paths import ENGINE_MODELS, WORK
from .photos import PhotoReader, photo_tensor
from .quantize import ACTIVATIONS, WEIGHTS, ExclusionSearch, quantize_qdq
from .recipes import RECIPES, Recipe
from .sources import SOURCES, ensure_source


def build_quantized(name: str, engine_models: Path = ENGINE_MODELS) -> Path:
    """Quantize source `name` by its recipe, verify it on held-out photos, install it with its manifest."""
    recipe = RECIPES[name]
    source = ensure_source(recipe.source)
    provenance = {"source": SOURCES[recipe.source].as_provenance(), "command": f"python -m modelbuild quantize {name}"}
    return quantize_model(recipe, source, provenance, engine_models)


def quantize_model(
    recipe: Recipe, source: Path, provenance: dict[str, Any], engine_models: Path = ENGINE_MODELS
) -> Path:
    """Quantize the float model `source` by `recipe`, verify it, install it with its manifest;
    `provenance` (where the float model came from, the command) heads the manifest's provenance."""
    name = recipe.model_id
    workdir = WORK / name
    workdir.mkdir(parents=True, exist_ok=True)
    float_model = prepare_float_graph(source, workdir / "float.onnx", recipe.input_size)
    calibration = recipe.photos.calibration()
    ranges, quantized = workdir / "ranges.json", workdir / "int8.onnx"
    ranges.unlink(missing_ok=True)
    tensors = [photo_tensor(p, recipe.input_size, recipe.feed.mean, recipe.feed.std) for p in calibration]
    input_name = onnx.load(str(float_model), load_external_data=False).graph.input[0].name
    print(f"{name}: calibrating on {len(calibration)} photos", flush=True)
    quantize_qdq(float_model, quantized, ranges, calibration=PhotoReader(input_name, tensors))
    print(f"{name}: searching the float nodes that keep MAE vs fp32 <= {recipe.target_mae}", flush=True)
    float_nodes = ExclusionSearch(
        float_model, ranges, workdir, tensors, recipe.target_mae, recipe.search_gain, recipe.search_patience
    ).run()
    print(f"{name}: float nodes: {', '.join(float_nodes) or 'none'}", flush=True)
    quantize_qdq(float_model, quantized, ranges, float_nodes)
    metrics = verify(recipe, float_model, quantized, ranges)
    if recipe.side_output:
        expose_side_outputs(quantized)
    target = engine_models / f"{recipe.model_id}.onnx"
    shutil.copyfile(quantized, target)
    manifest = describe_model(
        recipe.model_id,
        target,
        provenance | quantization_provenance(recipe, calibration, float_nodes),
        metrics,
        feed=recipe.feed,
    )
    previous = read_manifest(engine_models / f"{recipe.model_id}.json")
    if previous is not None and previous["sha256"] == manifest["sha256"]:
        print(f"{name}: same bytes as the manifest already describes; its figures are kept", flush=True)
        manifest = previous | {key: manifest[key] for key in ("memory",) if key in manifest}
    write_manifest(manifest, engine_models)
    print(f"{name}: wrote {target} ({target.stat().st_size / 1e6:.2f} MB)", flush=True)
    return target


def verify(recipe: Recipe, float_model: Path, quantized: Path, ranges: Path) -> dict[str, Any]:
    """MAE vs fp32 (the float graph at the recipe's input size) on held-out photos,
    refusing the model above `max_mae`, and latency at 2 threads.

    For the record, also the MAE the same recipe reaches with no node kept in float.
    """
    holdout = recipe.photos.holdout()
    tensors = [photo_tensor(p, recipe.input_size, recipe.feed.mean, recipe.feed.std) for p in holdout]
    reference = predict_maps(open_session(float_model), tensors)
    errors = image_errors(predict_maps(open_session(quantized), tensors), reference)
    mae = sum(errors) / len(errors)
    print(f"{recipe.model_id}: held-out MAE vs fp32 {mae:.4f} (worst photo {max(errors):.4f})", flush=True)
    if mae > recipe.max_mae:
        raise AccuracyError(f"{recipe.model_id}: MAE vs fp32 {mae:.4f} on held-out photos exceeds {recipe.max_mae}")
    all_int8 = quantized.with_name("all-int8.onnx")
    quantize_qdq(float_model, all_int8, ranges)
    all_int8_mae = mean_abs_error(predict_maps(open_session(all_int8), tensors), reference)
    print(f"{recipe.model_id}: (with no float nodes it would be {all_int8_mae:.4f})", flush=True)
    latency = compare_latency({"fp32": float_model, "int8": quantized}, tensors[0], threads=2)
    print(f"{recipe.model_id}: latency at 2 threads {latency['int8']} ms vs fp32 {latency['fp32']} ms", flush=True)
    return {
        "holdout": recipe.photos.record(holdout),
        "mae_vs_fp32": round(mae, 5),
        "mae_vs_fp32_worst_photo": round(max(errors), 5),
        "mae_vs_fp32_without_float_nodes": round(all_int8_mae, 5),
        "max_mae_allowed": recipe.max_mae,
        "latency_ms_2_threads": latency,
        "speedup_vs_fp32": round(latency["fp32"] / latency["int8"], 2),
    }


def quantization_provenance(recipe: Recipe, calibration: list[Path], float_nodes: list[str]) -> dict[str, Any]:
    return {
        "method": "static QDQ: activations QUInt8 (MinMax), weights QInt8 per-channel, opset 13, "
        "fused output only; nodes kept float by a greedy quantization-noise search",
        "activations": ACTIVATIONS.name,
        "weights": WEIGHTS.name,
        "calibration": recipe.photos.record(calibration),
        "float_nodes": float_nodes,
        "search_target_mae": recipe.target_mae,
        "search_gain": recipe.search_gain,
        "search_patience": recipe.search_patience,
        "side_output": recipe.side_output,
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
    }
