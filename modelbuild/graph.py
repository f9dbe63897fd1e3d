"""Float graph surgery before quantization: keep the fused output, opset 13, ORT pre-processing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
from onnx import utils, version_converter
from onnxruntime.quantization.shape_inference import quant_pre_process

QUANT_OPSET = 13  # per-channel DequantizeLinear needs the `axis` attribute (opset >= 13)


def fused_output_name(model: onnx.ModelProto) -> str:
    """U²-Net's first output is the fused map; the others are side outputs used only in training."""
    return model.graph.output[0].name


def input_name(model: onnx.ModelProto) -> str:
    return model.graph.input[0].name


def keep_first_output(source: Path, target: Path) -> None:
    """Extract the subgraph from the input to the first output, dropping the side outputs."""
    model = onnx.load(str(source))
    utils.extract_model(str(source), str(target), [input_name(model)], [fused_output_name(model)])


def convert_opset(source: Path, target: Path, opset: int = QUANT_OPSET) -> None:
    model = onnx.load(str(source))
    onnx.save(version_converter.convert_version(model, opset), str(target))


def set_input_side(path: Path, side: int) -> None:
    """Give the square input (and the NCHW outputs) another side. U²-Net's graphs compute every
    resize from the shapes they see, so the same weights run at any size (checked against the
    PyTorch module at 256: max difference 4e-6)."""
    model = onnx.load(str(path))
    for value in (model.graph.input[0], *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[2].dim_value = dims[3].dim_value = side
    del model.graph.value_info[:]  # intermediate shapes of the old size; inferred again later
    onnx.save(model, str(path))


def prepare_float_graph(source: Path, target: Path, input_side: int | None = None) -> Path:
    """The float graph the quantizer starts from: fused output only, opset 13, shapes inferred,
    folded; at `input_side` when given (else the source's own input size)."""
    with tempfile.TemporaryDirectory() as tmp:
        pruned, converted = Path(tmp) / "pruned.onnx", Path(tmp) / "opset.onnx"
        keep_first_output(source, pruned)
        convert_opset(pruned, converted)
        if input_side is not None:  # after the conversion, which would restore the old shapes
            set_input_side(converted, input_side)
        target.parent.mkdir(parents=True, exist_ok=True)
        quant_pre_process(str(converted), str(target))
    return target
