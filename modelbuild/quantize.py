"""Static INT8 QDQ quantization, with the fewest nodes kept in float that hold the output to fp32."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

from .evaluate import image_errors, open_session, predict_maps
from .photos import PhotoReader
from .sensitivity import NodeNoise, activations, float_island, noisiest_nodes, tensor_sqnr

ACTIVATIONS = QuantType.QUInt8
WEIGHTS = QuantType.QInt8


def quantize_qdq(
    float_model: Path,
    target: Path,
    ranges: Path,
    exclude: Sequence[str] = (),
    calibration: PhotoReader | None = None,
) -> None:
    """QDQ-quantize (uint8 activations, per-channel int8 weights), keeping `exclude` in float.

    Activation ranges come from the `ranges` cache; with `calibration` given and no cache yet,
    they are measured (MinMax) on those photos and cached first.
    """
    quantize_static(
        str(float_model),
        str(target),
        calibration,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=ACTIVATIONS,
        weight_type=WEIGHTS,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=list(exclude),
        calibration_cache_path=str(ranges),
    )


@dataclass
class ExclusionSearch:
    """Greedy search for the fewest float nodes that hold a quantized graph near its fp32 output.

    Each round ranks nodes by the quantization noise they add (on the photos the current
    candidate gets most wrong) and tries keeping in float the island around the worst ones, in
    rank order, until one cuts the output MAE vs fp32 by at least `min_gain`. Growth stops when
    the MAE is at most `target_mae`, or when none of the `patience` best-ranked islands helps
    (what is left is spread thin, not concentrated where float would fix it). A final pass gives
    back to INT8 every float node the result does not need.
    """

    float_model: Path
    ranges: Path
    workdir: Path
    photos: list[np.ndarray]
    target_mae: float
    min_gain: float = 0.1
    patience: int = 3
    debug_count: int = 2
    max_rounds: int = 30

    def __post_init__(self) -> None:
        model = onnx.load(str(self.float_model), load_external_data=False)
        self.graph = model.graph
        self.input_name = model.graph.input[0].name
        self.reference = predict_maps(open_session(self.float_model), self.photos)
        self.candidate = self.workdir / "candidate.onnx"

    def errors(self, exclude: Sequence[str]) -> list[float]:
        """Per-photo output MAE vs fp32 of the model quantized with `exclude` kept in float."""
        quantize_qdq(self.float_model, self.candidate, self.ranges, exclude)
        return image_errors(predict_maps(open_session(self.candidate), self.photos), self.reference)

    def islands(self, excluded: Sequence[str], errors: Sequence[float]) -> list[tuple[NodeNoise, list[str]]]:
        """The `patience` worst nodes of the current candidate, each with its new float island."""
        worst = [self.photos[i] for i in np.argsort(errors)[::-1][: self.debug_count]]
        float_acts = activations(self.float_model, self.input_name, worst)
        quant_acts = activations(self.candidate, self.input_name, worst)
        found: list[tuple[NodeNoise, list[str]]] = []
        for noise in noisiest_nodes(self.graph, tensor_sqnr(float_acts, quant_acts)):
            island = [n for n in float_island(self.graph, noise.tensor, set(quant_acts)) if n not in excluded]
            if island and all(island != other for _, other in found):
                found.append((noise, island))
            if len(found) == self.patience:
                break
        return found

    def grow(self) -> tuple[list[str], float]:
        """Add float islands, noisiest node first, while they pay off; the float nodes and their MAE."""
        excluded: list[str] = []
        mae = float(np.mean(errors := self.errors(excluded)))
        for round_ in range(self.max_rounds):
            print(f"  round {round_}: {len(excluded)} float nodes, MAE vs fp32 {mae:.4f}", flush=True)
            if mae <= self.target_mae:
                break
            for noise, island in self.islands(excluded, errors):
                trial = self.errors(excluded + island)
                trial_mae = float(np.mean(trial))
                floated = ", ".join(island)
                print(f"    {noise.node} adds noise at {noise.db:.1f} dB SQNR; float {floated}: MAE {trial_mae:.4f}")
                if trial_mae <= mae * (1.0 - self.min_gain):
                    excluded, errors, mae = excluded + island, trial, trial_mae
                    break
            else:
                print(f"    no island cuts the MAE by {self.min_gain:.0%}: stop", flush=True)
                break
        return excluded, mae

    def shrink(self, excluded: list[str], grown_mae: float) -> list[str]:
        """Give back to INT8, latest first, each float node whose return keeps the grown MAE level."""
        kept = list(excluded)
        bar = max(self.target_mae, grown_mae * (1.0 + self.min_gain / 2))
        for node in reversed(excluded):
            trial = [n for n in kept if n != node]
            mae = float(np.mean(self.errors(trial)))
            verdict = "back to INT8" if mae <= bar else "stays float"
            print(f"  without {node}: MAE {mae:.4f} -> {verdict}", flush=True)
            if mae <= bar:
                kept = trial
        return kept

    def run(self) -> list[str]:
        return self.shrink(*self.grow())
