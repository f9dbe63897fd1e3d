"""`python -m bench.jobs`: throughput of the command line with -j 1, 2, ... worker processes on a
folder of 2 MP photos (the sample photos enlarged), wall time from start to exit, as a user sees it.

Writes bench/results/jobs.{json,md}, with the other processes' CPU use over each run beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess  # fixed argument lists built here, never a shell  # nosec B404
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2

from .data import ROOT
from .load import OtherLoad, cpu_count

RESULTS = ROOT / "bench" / "results"
SIZE = (1632, 1224)


def make_photos(folder: Path, count: int) -> None:
    samples = sorted((ROOT / "samples").glob("*.jpg"))
    for index in range(count):
        photo = cv2.resize(cv2.imread(str(samples[index % len(samples)])), SIZE, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"p{index:03d}.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])


def run(folder: Path, out: Path, jobs: int) -> dict[str, float]:
    command = [sys.executable, "-m", "engine", str(folder), "--out", str(out), "-j", str(jobs), "-q"]
    with OtherLoad() as load:
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # noqa: S603  # nosec B603
        wall = time.perf_counter() - start
    return {"jobs": jobs, "wall_s": round(wall, 2), "other_cores": round(load.cores, 2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "in"
        folder.mkdir()
        make_photos(folder, args.images)
        for jobs in args.jobs:
            row = run(folder, Path(scratch) / f"out{jobs}", jobs)
            row["images_per_s"] = round(args.images / row["wall_s"], 2)
            rows.append(row)
            print(row, flush=True)
    lines = [
        "# Command line: throughput by -j",
        "",
        f"{args.images} photos of 2 MP, `python -m engine DIR --out OUT -j N`, wall time including start-up, on "
        f"{cpu_count()} cores; the other processes' use of them is beside each run.",
        "",
        "| -j | wall | images/s | other processes (cores) |",
        "|---:|---:|---:|---:|",
        *(f"| {r['jobs']} | {r['wall_s']} s | {r['images_per_s']} | {r['other_cores']} |" for r in rows),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "jobs.json").write_text(json.dumps(rows, indent=2))
    (RESULTS / "jobs.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
