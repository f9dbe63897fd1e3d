"""One ONNX Runtime session per model per process, created on first use and then reused."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from .manifest import Manifest, load_manifest, verify_model_file


@dataclass(frozen=True)
class Model:
    """A loaded model: its manifest and its inference session."""

    manifest: Manifest
    session: ort.InferenceSession

    @property
    def id(self) -> str:
        return self.manifest.id

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 BGR -> the 1x3xHxW float32 RGB tensor the model expects."""
        width, height = self.manifest.input_size
        small = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
        tensor = small[:, :, ::-1].astype(np.float32)
        tensor *= 1.0 / max(float(small.max()), 1e-6)  # U²-Net's training scaled by the image max
        tensor -= np.asarray(self.manifest.mean, dtype=np.float32)
        tensor /= np.asarray(self.manifest.std, dtype=np.float32)
        return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])

    def predict(self, bgr: np.ndarray) -> np.ndarray:
        """The model's foreground probability at its own input size, float32 in 0..1."""
        (out,) = self.session.run([self.manifest.output_name], {self.manifest.input_name: self.prepare(bgr)})
        pred = out.reshape(out.shape[-2], out.shape[-1]).astype(np.float32, copy=False)
        if self.manifest.normalize_output == "minmax":
            low, high = float(pred.min()), float(pred.max())
            pred = (pred - low) / max(high - low, 1e-6)
        return np.clip(pred, 0.0, 1.0, out=pred)


def create_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_models: dict[tuple[str, Path], Model] = {}
_lock = threading.Lock()


def get_model(model_id: str, model_dir: Path, threads: int) -> Model:
    """The process-wide model for this id: loaded (and checked) once, then reused."""
    key = (model_id, model_dir)
    model = _models.get(key)
    if model is not None:
        return model
    with _lock:
        model = _models.get(key)
        if model is None:
            manifest = load_manifest(model_id, model_dir)
            verify_model_file(manifest)
            model = Model(manifest, create_session(manifest.path, threads))
            _models[key] = model
    return model


def loaded_models() -> list[str]:
    """Ids of the models this process has loaded (for tests and health checks)."""
    return sorted(model_id for model_id, _ in _models)
