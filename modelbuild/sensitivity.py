"""Which float tensors lose the most signal to quantization, measured on real activations.

Both models are run with every intermediate tensor exposed (onnxruntime.quantization.qdq_loss_debug).
For each tensor of the float graph we compare its float value with the value the quantized model
actually consumes (after its QuantizeLinear/DequantizeLinear pair, if it has one) as a
signal-to-quantization-noise ratio in dB. The noise a node adds on top of what its inputs
carry marks the place where quantization, not inherited error, destroys the signal.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization.qdq_loss_debug import (
    collect_activations,
    compute_signal_to_quantization_noice_ratio,
    modify_model_output_intermediate_tensors,
)
from onnxruntime.quantization.quant_utils import DEQUANT_OUTPUT_SUFFIX

from .graph import producer_map
from .photos import PhotoReader


@dataclass(frozen=True)
class NodeNoise:
    """The quantization noise a node adds to its output tensor, as an SQNR in dB (lower is worse)."""

    node: str
    tensor: str
    db: float


def activations(model: Path, input_name: str, tensors: Sequence[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Every float intermediate tensor of `model` for each input, by tensor name."""
    with tempfile.TemporaryDirectory(prefix="modelbuild.") as tmp:
        augmented = Path(tmp) / "augmented.onnx"
        modify_model_output_intermediate_tensors(str(model), str(augmented))
        return collect_activations(str(augmented), PhotoReader(input_name, tensors))


def tensor_sqnr(float_acts: dict[str, list[np.ndarray]], quant_acts: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """SQNR (dB) of each float tensor against what the quantized model feeds its consumers."""
    result: dict[str, float] = {}
    for name, values in float_acts.items():
        quantized = quant_acts.get(name + DEQUANT_OUTPUT_SUFFIX, quant_acts.get(name))
        if quantized is not None:
            result[name] = compute_signal_to_quantization_noice_ratio(values, quantized)
    return result


def noisiest_nodes(graph: onnx.GraphProto, sqnr: dict[str, float]) -> list[NodeNoise]:
    """Per node, the noise it adds itself (as an SQNR of its output); noisiest first.

    Quantization noise adds up along the graph: the noise-to-signal ratio of a node's output is
    what its worst input brings plus what the node adds, so the node's own share is the
    difference. A tensor the quantized graph fused away (a Conv output folded into its Relu)
    takes the SQNR of its producer's inputs, so the fused pair is judged as one step.
    """
    producers = producer_map(graph)
    memo: dict[str, float] = {}

    def incoming(name: str) -> float:
        if name in sqnr:
            return sqnr[name]
        if name not in memo:
            producer = producers.get(name)
            memo[name] = min((incoming(i) for i in producer.input if i), default=math.inf) if producer else math.inf
        return memo[name]

    noisy = []
    for node in graph.node:
        measured = [out for out in node.output if out in sqnr]
        if not measured:
            continue
        inherited = _noise_ratio(min((incoming(i) for i in node.input if i), default=math.inf))
        added = _noise_ratio(sqnr[measured[0]]) - inherited
        if added > 0:
            noisy.append(NodeNoise(node.name, measured[0], -10.0 * math.log10(added)))
    return sorted(noisy, key=lambda d: d.db)


def _noise_ratio(sqnr_db: float) -> float:
    return 0.0 if math.isinf(sqnr_db) else 10.0 ** (-sqnr_db / 10.0)


def float_island(graph: onnx.GraphProto, tensor: str, present: set[str]) -> list[str]:
    """Nodes to keep in float so `tensor` is never quantized: its producer (with any producer the
    quantizer fused into it: one whose output is not among the quantized graph's `present`
    tensors) and every consumer."""
    producers = producer_map(graph)
    island: list[str] = []
    pending = [tensor]
    while pending:
        producer = producers.get(pending.pop())
        if producer is None or producer.name in island:
            continue
        island.append(producer.name)
        pending.extend(i for i in producer.input if i in producers and i not in present)
    island.extend(node.name for node in graph.node if tensor in node.input and node.name not in island)
    return island
