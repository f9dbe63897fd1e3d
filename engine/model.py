"""One ONNX Runtime session per model and thread count per process, created on first use and then
reused; the photo as the model takes it, and its output as a foreground map."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

from .families import FAMILIES, Family, minmax
from .manifest import Manifest, load_manifest, verify_model_file

# A photo is box-reduced by whole factors to at least this many times the model's input before the
# Lanczos resize (Pillow's `reducing_gap`). 1.5 rather than 3: a 2 MP photo is then prepared in
# ~20 ms instead of ~65 (33 % of the model's own run). On the validation split upscaled 1.7x, 2.5x
# and 4x (so that the shortcut is taken), mean MAE / max F-beta over the three: 0.06491 / 0.8825 at
# gap 2, 0.06482 / 0.8826 at 1.5; the dev and validation photos themselves are too small to change.
REDUCING_GAP = 1.5
# An input whose every channel spans less than this (a share of its brightest value) is one flat
# colour, JPEG noise included: it has no subject, whatever the network's response (a plain magenta
# or purple frame peaks at 0.7-0.8, where other plain colours stay under 0.1).
FLAT_SPREAD = 4 / 255


@dataclass(frozen=True)
class Model:
    """A loaded model: its manifest, its family and its inference session."""

    manifest: Manifest
    session: ort.InferenceSession
    _ran: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    @property
    def has_run(self) -> bool:
        """Whether the session has run once, and so holds its arena."""
        return self._ran.is_set()

    @property
    def pending_arena_mb(self) -> float:
        """Memory (MiB) the first run will still allocate: the manifest's arena until then, 0 after."""
        return 0.0 if self.has_run or self.manifest.arena_mb is None else self.manifest.arena_mb

    @property
    def family(self) -> Family:
        return FAMILIES[self.manifest.family]

    @property
    def id(self) -> str:
        return self.manifest.id

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 BGR -> the 1x3xHxW float32 RGB tensor the model expects."""
        return model_input(bgr, self.manifest.input_size, self.manifest.mean, self.manifest.std)

    def infer(self, bgr: np.ndarray) -> Prediction:
        """The model's foreground probability at its own input size, float32 in 0..1: its output
        through its family's activation, then min-max normalised when the manifest says so; the
        activation's peak before that normalisation (which stretches any flat map to 0..1); and
        the side outputs the model exposes the same way."""
        manifest = self.manifest
        names = [manifest.output_name, *manifest.sides.values()]
        tensor = self.prepare(bgr)
        outputs = self.session.run(names, {manifest.input_name: tensor})
        self._ran.set()
        pred = self._activated(outputs[0])
        peak = 0.0 if is_flat(tensor, manifest.std) else float(np.clip(pred.max(initial=0.0), 0.0, 1.0))
        sides = {
            name: self._normalised(self._activated(out)) for name, out in zip(manifest.sides, outputs[1:], strict=True)
        }
        return Prediction(self._normalised(pred), peak, sides)

    def _activated(self, out: np.ndarray) -> np.ndarray:
        return self.family.activation(out.reshape(out.shape[-2], out.shape[-1]).astype(np.float32, copy=False))

    def _normalised(self, pred: np.ndarray) -> np.ndarray:
        if self.manifest.normalize_output == "minmax":
            pred = minmax(pred)
        return np.clip(pred, 0.0, 1.0, out=pred)

    def predict(self, bgr: np.ndarray) -> np.ndarray:
        """The foreground map of `infer`."""
        return self.infer(bgr).map


@dataclass(frozen=True)
class Prediction:
    """What the model says about one photo."""

    map: np.ndarray  # float32 HxW (the model's input size), 0..1
    peak: float  # its strongest response before min-max (0..1), 0 for a flat input: low, nothing looks like a subject
    sides: dict[str, np.ndarray] = field(default_factory=dict)  # side outputs like `map`, by feature (quality.py)


def is_flat(tensor: np.ndarray, std: Sequence[float]) -> bool:
    """Whether a model input (`model_input`'s 1x3xHxW) is one flat colour: each channel's range,
    back in units of the photo's brightest value, under FLAT_SPREAD."""
    spread = (tensor.max(axis=(0, 2, 3)) - tensor.min(axis=(0, 2, 3))) * np.asarray(std, np.float32)
    return bool(spread.max() < FLAT_SPREAD)


def model_input(bgr: np.ndarray, size: tuple[int, int], mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A photo as U²-Net models take it: Lanczos-resized to `size` (width, height), RGB scaled by
    its max, normalised by mean/std, NCHW float32. Lanczos, as rembg feeds these models: on the
    dev and train sets it ranks edges better than an area average (max F-beta +0.002 on horse).
    A large photo is first box-reduced by whole factors to at least REDUCING_GAP x the target (as
    Pillow's `reducing_gap` does), so no full-size copy is ever made (12 MP: 15 ms instead of 85 ms)."""
    height, width = bgr.shape[:2]
    fx, fy = max(1, int(width // (REDUCING_GAP * size[0]))), max(1, int(height // (REDUCING_GAP * size[1])))
    if fx > 1 or fy > 1:
        bgr = cv2.resize(bgr, (width // fx, height // fy), interpolation=cv2.INTER_AREA)
        height, width = bgr.shape[:2]
    photo = Image.frombuffer("RGB", (width, height), np.ascontiguousarray(bgr), "raw", "BGR", 0, 1)
    tensor = np.asarray(photo.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    tensor *= 1.0 / max(float(tensor.max()), 1e-6)  # U²-Net's training scaled by the image max
    tensor -= np.asarray(mean, dtype=np.float32)
    tensor /= np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])


def create_session(path: Path, threads: int, spinning: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # No memory pattern: ORT would keep one block sized for every activation at once (about 100 MiB
    # for u2netp at 320x320); the arena still reuses freed chunks, at the same speed.
    options.enable_mem_pattern = False
    # Pool threads sleep between runs instead of spinning: spinning costs nothing on an idle machine,
    # but under Lambda's CPU quota it is charged to the function and throttles the refinement after
    # each inference (2 MP, inference + refinement at 2048 MB: 227 and 225 ms against 259 and 233 in
    # two runs; unlimited: the same; studies/results/cpu_quota.md, docs/deploy.md). `spinning` is
    # ONNX Runtime's own default, for that study to compare.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_models: dict[tuple[str, Path, int], Model] = {}
_lock = threading.Lock()


def get_model(model_id: str, model_dir: Path, threads: int) -> Model:
    """The process-wide model for this id and thread count: loaded and checked once (and run once,
    when its manifest does not say what its arena takes), then reused. ModelNotFoundError /
    ModelIntegrityError when it cannot be (a broken deployment)."""
    key = (model_id, model_dir, threads)
    model = _models.get(key)
    if model is not None:
        return model
    with _lock:
        model = _models.get(key)
        if model is None:
            manifest = load_manifest(model_id, model_dir)
            verify_model_file(manifest)
            model = Model(manifest, create_session(manifest.path, threads))
            if manifest.arena_mb is None:
                # What the arena takes is unknown: one run now allocates it, so that the memory a
                # photo needs comes on top of what the process already holds (engine.memory). With
                # the figure, the first photo allocates it and the budget counts it (a third of
                # the cold start saved).
                width, height = manifest.input_size
                model.predict(np.zeros((height, width, 3), np.uint8))
            _models[key] = model
    return model
