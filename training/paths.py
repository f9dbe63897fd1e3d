"""Where the training pipeline reads and writes (all outside git, under .cache/training), and the
teachers it distils from."""

from __future__ import annotations

from modelbuild.paths import CACHE, SOURCE_MODELS

from .teacher import Member, Teacher

WORK = CACHE / "training"
TEACHER_LABELS = WORK / "teacher"  # <teacher name>/<folder key>/<stem>.png, 8-bit soft labels at full size
RUNS = WORK / "runs"  # <run>/checkpoint.pt, step-N.pt, student.onnx, log.jsonl, val.jsonl
STUDENT_INIT_ONNX = SOURCE_MODELS / "u2netp.onnx"
INIT_ONNX = {"u2netp": STUDENT_INIT_ONNX, "u2net": SOURCE_MODELS / "u2net.onnx"}  # published weights per --arch

U2NET = Member("u2net", SOURCE_MODELS / "u2net.onnx", 320)
# ISNet runs widened to fp32 (`modelbuild.graph.widen_to_fp32` of the verified fp16 file; `fetch` makes it)
ISNET = Member("isnet", SOURCE_MODELS / "isnet-fp32.onnx", 1024, mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))
TEACHERS = {  # by name; `compare-teachers` measures every combination of u2net and isnet
    "u2net": Teacher((U2NET,)),
    "u2net-flip": Teacher((U2NET,), flip=True),
    "isnet": Teacher((ISNET,)),
    "isnet-flip": Teacher((ISNET,), flip=True),
    "u2net+isnet": Teacher((U2NET, ISNET)),
    "u2net+isnet-flip": Teacher((U2NET, ISNET), flip=True),
}
# ISNet alone. On the validation split's labelled photos (`compare-teachers`; mean over train,
# extra/davis, extra/people of MAE / max F-beta) it ranks third of six, close behind ISNet with flip
# averaging (0.0623 / 0.9084 against 0.0621 / 0.9086) and far ahead of U²-Net (0.0633 / 0.8806),
# at half the flip's cost: 1.5 s per photo on 2 cores instead of 2.9 (50 minutes less over the pool).
DEFAULT_TEACHER = "isnet"
