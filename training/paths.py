"""Where the training pipeline reads and writes (all outside git, under .cache/training), and the
teachers it distils from."""

from __future__ import annotations

from modelbuild.paths import CACHE, SOURCE_MODELS

from .teacher import Member, Teacher

WORK = CACHE / "training"
TEACHER_LABELS = WORK / "teacher"  # <teacher name>/<folder key>/<stem>.png, 8-bit soft labels at full size
RUNS = WORK / "runs"  # <run>/checkpoint.pt, step-N.pt, student.onnx, log.jsonl, val.jsonl
STUDENT_INIT_ONNX = SOURCE_MODELS / "u2netp.onnx"

U2NET = Member("u2net", SOURCE_MODELS / "u2net.onnx", 320)
ISNET = Member("isnet", SOURCE_MODELS / "isnet-fp16.onnx", 1024, mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))
TEACHERS = {  # by name; `compare-teachers` measures every combination of u2net and isnet
    "u2net": Teacher((U2NET,)),
    "u2net-flip": Teacher((U2NET,), flip=True),
    "isnet": Teacher((ISNET,)),
    "isnet-flip": Teacher((ISNET,), flip=True),
    "u2net+isnet": Teacher((U2NET, ISNET)),
    "u2net+isnet-flip": Teacher((U2NET, ISNET), flip=True),
}
# ISNet alone: on the validation split's labelled photos as good as with flip averaging (mean MAE
# 0.0623 vs 0.0621, max F-beta 0.9084 vs 0.9086) and better than U²-Net (0.0632 / 0.9000), at half
# the cost of the flip (1.5 s per photo on 2 cores); `python -m training compare-teachers` measures it.
DEFAULT_TEACHER = "isnet"
