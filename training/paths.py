"""Where the training pipeline reads and writes (all outside git, under .cache/training)."""

from __future__ import annotations

from pathlib import Path

from modelbuild.paths import CACHE, DATA, SOURCE_MODELS

TRAIN_SET = DATA / "train"  # images/ + masks/ (ground truth)
UNLABELED = DATA / "unlabeled" / "people"  # images/ only: teacher labels alone
WORK = CACHE / "training"
TEACHER_LABELS = WORK / "teacher"  # <folder name>/<stem>.png, 8-bit soft labels at full size
RUNS = WORK / "runs"  # <run>/checkpoint.pt, student.onnx, log.jsonl
TEACHER_ONNX = SOURCE_MODELS / "u2net.onnx"
STUDENT_INIT_ONNX = SOURCE_MODELS / "u2netp.onnx"
