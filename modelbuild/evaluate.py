"""How close a quantized model stays to its float original, and how fast each runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engine.families import minmax
from engine.manifest import available_models, load_manifest
from engine.model import create_session

from .photos import photo_tensor

THREADS = 2  # the latency figures in the manifests are measured at 2 threads


def open_session(path: Path, threads: int = THREADS) -> ort.InferenceSession:
    """The engine's own session (`engine.model.create_session`): what is measured is what serves."""
    return create_session(path, threads)


def predict_maps(session: ort.InferenceSession, tensors: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The first output of the model, min-max normalised, for each input tensor."""
    name = session.get_inputs()[0].name
    return [minmax(session.run(None, {name: tensor})[0].astype(np.float32)) for tensor in tensors]


def image_errors(maps: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> list[float]:
    """Mean absolute difference per image (maps in 0..1)."""
    return [float(np.abs(a - b).mean()) for a, b in zip(maps, reference, strict=True)]


def mean_abs_error(maps: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Mean absolute difference over all pixels of all images (maps in 0..1)."""
    return float(np.mean(image_errors(maps, reference)))


def compare_latency(
    paths: dict[str, Path], tensor: np.ndarray | dict[str, np.ndarray], threads: int = THREADS, repeats: int = 7
) -> dict[str, float]:
    """Median ms per run of each model, interleaved so drifting background load hits all alike;
    `tensor` is the input of every model, or one input per label (models of other input sizes)."""
    sessions = {label: open_session(path, threads) for label, path in paths.items()}
    inputs = tensor if isinstance(tensor, dict) else dict.fromkeys(paths, tensor)
    feeds = {label: {s.get_inputs()[0].name: inputs[label]} for label, s in sessions.items()}
    times: dict[str, list[float]] = {label: [] for label in sessions}
    for label, session in sessions.items():  # warm-up
        session.run(None, feeds[label])
    for _ in range(repeats):
        for label, session in sessions.items():
            start = time.perf_counter()
            session.run(None, feeds[label])
            times[label].append((time.perf_counter() - start) * 1000.0)
    return {label: round(statistics.median(values), 1) for label, values in times.items()}


def time_side_by_side(folder: Path, photo: Path, repeats: int = 15) -> dict[str, float]:
    """Median ms per inference (2 threads) of every installed model of `folder`, all in one
    interleaved run (`compare_latency`), each fed `photo` as the engine feeds it."""
    manifests = [load_manifest(model_id, folder) for model_id in available_models(folder)]
    installed = [m for m in manifests if m.path.is_file()]
    tensors = {m.id: photo_tensor(photo, m.input_size[0], m.mean, m.std) for m in installed}
    return compare_latency({m.id: m.path for m in installed}, tensors, repeats=repeats)
