"""Where the training pipeline reads and writes (all outside git, under .cache/training); the teachers
it distils from are `modelbuild.teachers`."""

from __future__ import annotations

from modelbuild.paths import CACHE, SOURCE_MODELS

WORK = CACHE / "training"
TEACHER_LABELS = WORK / "teacher"  # <teacher name>/<folder key>/<stem>.png, 8-bit soft labels at full size (+ .sha256)
CLOSE_UPS = WORK / "close-ups"  # <teacher name>/images|masks: close-ups of the validation photos (--close-ups)
RUNS = WORK / "runs"  # <run>/checkpoint.pt, step-N.pt, student.onnx, log.jsonl, val.jsonl
STUDENT_INIT_ONNX = SOURCE_MODELS / "u2netp.onnx"
INIT_ONNX = {"u2netp": STUDENT_INIT_ONNX, "u2net": SOURCE_MODELS / "u2net.onnx"}  # published weights per --arch


def float_model_id(model_id: str) -> str:
    """The engine id `export` installs the fp32 student as, beside the INT8 `model_id`."""
    return model_id.removesuffix("-int8") if model_id.endswith("-int8") else f"{model_id}-fp32"
