"""`python -m studies.cpu_quota`: the engine's inference settings under a CPU quota like Lambda's.

Lambda shows a function two or more CPUs but gives it CPU time in proportion to its memory (one
vCPU at 1,769 MB: the template's default 2048 MB is 1.16 of them), enforced as a CFS quota. ONNX
Runtime's pool threads spin-wait after each parallel section by default; on an idle machine that
costs nothing, under a quota the spinning is charged to the function and throttles whatever runs
next. This study runs one 2 MP photo's inference followed by its refinement, alternating the
settings round by round (so the machine's noise falls on each alike), in a child process placed
in a cgroup with each quota: 1 thread, 2 threads spinning (ONNX Runtime's default) and 2 threads
without spinning, with OpenCV's threads (the refinement's) at its default or at 1. Writes
studies/results/cpu_quota.{json,md}.

It needs root and a writable cgroup cpu controller (v1 or v2); elsewhere it says so and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # fixed argument lists, never a shell  # nosec B404
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from bench.data import ROOT, SPEED_SIZES, speed_images
from bench.report import publish, table

OUT = ROOT / "studies" / "results" / "cpu_quota"
VCPU_MB = 1769  # Lambda: one vCPU's worth of CPU time at 1,769 MB (AWS Lambda docs, "Memory and computing power")
MEMORY_SIZES = (None, 1024, 2048, 3008)  # None: no quota
PERIOD_US = 100_000
# name -> (inference threads, spinning, OpenCV's threads for the refinement; 0: its default, every CPU)
SETTINGS = {
    "1 thread": (1, True, 0),
    "1 thread, OpenCV 1": (1, False, 1),
    "2 threads, spinning": (2, True, 0),
    "2 threads, no spinning": (2, False, 0),
    "2 threads, no spinning, OpenCV 1": (2, False, 1),
}
_V1 = Path("/sys/fs/cgroup/cpu")
_V2 = Path("/sys/fs/cgroup")


def share(memory_mb: int) -> float:
    """The vCPUs' worth of time Lambda gives a function of `memory_mb`."""
    return memory_mb / VCPU_MB


def measure(rounds: int) -> dict[str, dict[str, float]]:
    """Setting -> median ms of inference, of the refinement after it, and of both (this process)."""
    from engine import settings  # noqa: PLC0415 - the child's work only
    from engine.decode import decode_image  # noqa: PLC0415
    from engine.model import create_session  # noqa: PLC0415
    from engine.pipeline import load_model  # noqa: PLC0415
    from engine.refine import refine_matte  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        decoded = decode_image(speed_images(Path(folder))["2MP"].read_bytes(), 64)
    model = load_model(settings())
    pred, tensor = model.infer(decoded.bgr).map, model.prepare(decoded.bgr)
    sessions = {name: create_session(model.manifest.path, *spec[:2]) for name, spec in SETTINGS.items()}
    default_cv_threads = cv2.getNumThreads()
    feed = {model.manifest.input_name: tensor}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    for round_number in range(rounds + 2):  # two warm-up rounds
        order = list(SETTINGS) if round_number % 2 else list(reversed(SETTINGS))
        for name in order:
            cv2.setNumThreads(SETTINGS[name][2] or default_cv_threads)
            start = time.perf_counter()
            sessions[name].run(None, feed)
            inferred = time.perf_counter()
            refine_matte(pred, decoded.bgr)
            if round_number >= 2:
                times[name].append((inferred - start, time.perf_counter() - inferred))
    return {name: _medians(values) for name, values in times.items()}


def _medians(values: list[tuple[float, float]]) -> dict[str, float]:
    infer, refine = (np.asarray(column) * 1000 for column in zip(*values, strict=True))
    return {
        "infer_ms": round(float(np.median(infer)), 1),
        "refine_ms": round(float(np.median(refine)), 1),
        "total_ms": round(float(np.median(infer + refine)), 1),
    }


@contextmanager
def cgroup(quota: float | None) -> Iterator[Callable[[], None] | None]:
    """A cgroup limited to `quota` CPUs (None: no cgroup), as a function that moves the calling
    process into it (for `preexec_fn`); removed afterwards."""
    if quota is None:
        yield None
        return
    name = f"cpu-quota-{uuid.uuid4().hex[:8]}"
    v2 = (_V2 / "cgroup.controllers").is_file() and "cpu" in (_V2 / "cgroup.controllers").read_text().split()
    folder = _V2 / name if v2 else _V1 / name
    try:
        folder.mkdir()
        if v2:
            (folder / "cpu.max").write_text(f"{round(quota * PERIOD_US)} {PERIOD_US}")
        else:
            (folder / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (folder / "cpu.cfs_quota_us").write_text(str(round(quota * PERIOD_US)))
    except OSError as error:
        message = f"cannot make a cgroup with a CPU quota ({error}): this study needs root and a cgroup cpu controller"
        raise SystemExit(message) from None
    tasks = folder / ("cgroup.procs" if v2 else "tasks")
    try:
        yield lambda: tasks.write_text(str(os.getpid()))
    finally:
        folder.rmdir()


def run_child(quota: float | None, rounds: int) -> dict[str, dict[str, float]]:
    with cgroup(quota) as enter:
        command = [sys.executable, "-m", "studies.cpu_quota", "--child", "--rounds", str(rounds)]
        # preexec_fn only writes the child's pid into the cgroup
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, preexec_fn=enter)  # noqa: S603  # nosec B603
    result: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def markdown(results: dict[str, dict[str, dict[str, float]]], rounds: int) -> str:
    rows = []
    for limit, by_setting in results.items():
        fastest = min(values["total_ms"] for values in by_setting.values())
        for name, values in by_setting.items():
            mark = " **fastest**" if values["total_ms"] == fastest else ""
            rows.append(
                [
                    limit,
                    name,
                    f"{values['infer_ms']:.0f}",
                    f"{values['refine_ms']:.0f}",
                    f"{values['total_ms']:.0f}{mark}",
                ]
            )
    header = ["CPU time (Lambda memory)", "inference threads", "infer ms", "refine after ms", "both ms"]
    return (
        "# Inference threads under a CPU quota like Lambda's\n\n"
        f"`python -m studies.cpu_quota`: a {SPEED_SIZES['2MP'][0]}x{SPEED_SIZES['2MP'][1]} photo, the default model; "
        f"medians of {rounds} rounds, the settings alternated within each round.\n\n" + table(header, rows) + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.cpu_quota", description=__doc__)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.rounds)))
        return 0
    results = {}
    for memory in MEMORY_SIZES:
        label = "unlimited (2 CPUs)" if memory is None else f"{share(memory):.2f} CPU ({memory} MB)"
        print(f"measuring: {label}", flush=True)
        results[label] = run_child(None if memory is None else share(memory), args.rounds)
    return publish({"rounds": args.rounds, "results": results}, OUT, markdown(results, args.rounds))


if __name__ == "__main__":
    raise SystemExit(main())
