"""Graph surgery: before quantization keep the fused output, opset 13, ORT pre-processing; after
it, optionally expose side outputs again (the error estimate's `side` and `side4` features)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import onnx
from onnx import numpy_helper, utils, version_converter
from onnxruntime.quantization.shape_inference import quant_pre_process

QUANT_OPSET = 13  # per-channel DequantizeLinear needs the `axis` attribute (opset >= 13)
# The side outputs exposed for the error estimate (engine/quality.py), by graph output name (the
# feature's name, which engine/manifest.py reads): the index of each among U²-Net's, finest first.
SIDE_OUTPUTS = {"side": 0, "side4": 3}
PASS_THROUGH = {"QuantizeLinear", "DequantizeLinear"}


def producer_map(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """Each tensor's producing node, by tensor name (graph inputs and initializers have none)."""
    return {out: node for node in graph.node for out in node.output}


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
            if dims[0].dim_value <= 0:  # a named batch size (MODNet's): one photo, so the shape is fixed
                dims[0].dim_value = 1
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
        pre_process(converted, target, Path(tmp))
    return target


def pre_process(source: Path, target: Path, scratch: Path) -> None:
    """ONNX Runtime's pre-processing for quantization (shape inference, folding). Where its
    symbolic shape inference gives up (MODNet: resizes sized by computed shapes), ONNX's own shape
    inference stands in. Run inside `scratch`: a failed symbolic pass leaves its files in the
    working directory."""
    with contextlib.chdir(scratch):
        try:
            quant_pre_process(str(source.resolve()), str(target.resolve()))
        except Exception as exc:  # onnxruntime raises a bare Exception for this
            if "symbolic shape inference" not in str(exc):
                raise
            quant_pre_process(str(source.resolve()), str(target.resolve()), skip_symbolic_shape=True)


def widen_to_fp32(source: Path, target: Path) -> Path:
    """A float16 graph with every float16 weight, constant, cast and tensor type widened to
    float32: the same function, but ONNX Runtime's CPU kernels run it without cast round trips
    (ISNet fp16: 1.3-1.6x faster on 2 cores, outputs within 2e-4). Written atomically; skipped
    when `target` exists."""
    if target.is_file():
        return target
    model = onnx.load(str(source))
    graph = model.graph
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == onnx.TensorProto.FLOAT16:
            graph.initializer[i].CopyFrom(_as_fp32(tensor))
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == onnx.TensorProto.FLOAT16:
                attribute.i = onnx.TensorProto.FLOAT
            elif attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == onnx.TensorProto.FLOAT16:
                attribute.t.CopyFrom(_as_fp32(attribute.t))
    for info in (*graph.value_info, *graph.input, *graph.output):
        if info.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    partial = target.with_name(target.name + ".partial")
    onnx.save(model, str(partial))
    partial.replace(target)
    return target


def _as_fp32(tensor: onnx.TensorProto) -> onnx.TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype("float32"), tensor.name)


def side_logits(model: onnx.ModelProto) -> list[str]:
    """The tensors of U²-Net's side outputs (logits), finest first, as the fuse conv takes them: the
    fused output is sigmoid(conv(concat(side 1, side 2, ...))), Q/DQ pairs aside in an INT8 graph."""
    producer = producer_map(model.graph)

    def through(tensor: str, skip: set[str]) -> onnx.NodeProto:
        node = producer[tensor]
        while node.op_type in skip:
            node = producer[node.input[0]]
        return node

    fuse = through(fused_output_name(model), PASS_THROUGH | {"Sigmoid"})
    concat = through(fuse.input[0], PASS_THROUGH)
    if fuse.op_type != "Conv" or concat.op_type != "Concat":
        raise ValueError(f"not a U²-Net head: the fused output comes from {fuse.op_type} of {concat.op_type}")
    return [str(name) for name in concat.input]


def expose_sides(model: onnx.ModelProto, logits: dict[str, str]) -> None:
    """Add graph outputs {name: sigmoid(logit tensor)}, shaped like the fused map."""
    taken = {t for node in model.graph.node for t in node.output} | {t.name for t in model.graph.initializer}
    if taken & set(logits):
        raise ValueError(f"the graph already has tensors named {sorted(taken & set(logits))}")
    fused = model.graph.output[0]
    for name, logit in logits.items():
        model.graph.node.append(onnx.helper.make_node("Sigmoid", [logit], [name], name=name))
        side = onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        side.type.tensor_type.shape.CopyFrom(fused.type.tensor_type.shape)
        model.graph.output.append(side)


def expose_side_outputs(path: Path) -> None:
    """Add the SIDE_OUTPUTS the head has, each through a sigmoid like the fused map, as graph
    outputs: the network computes them anyway, and their disagreement with the fused map predicts
    the cut-out's error. The fused map is untouched; outputs already exposed are kept as they are."""
    model = onnx.load(str(path))
    logits, exposed = side_logits(model), {o.name for o in model.graph.output}
    wanted = {name: index for name, index in SIDE_OUTPUTS.items() if index < len(logits) and name not in exposed}
    expose_sides(model, {name: logits[index] for name, index in wanted.items()})
    onnx.save(model, str(path))
