"""`python -m bench.cost`: the S3 worker's billed duration per image, measured under the Lambda
emulator against a local S3 (the sample photo enlarged to 2 MP and 12 MP; warm invocations, the
median of `--repeats`), and what 1,000 images cost on Lambda at the template's MemorySize on
x86_64 and arm64.

Prices: AWS Lambda, US East (N. Virginia), first pricing tier, https://aws.amazon.com/lambda/pricing/
(read 2026-12-02 through transcriptions of that page: its rate tables render client-side). arm64's
duration is not measured here (no Graviton CPU): the table assumes the same duration, so its saving
is the price difference alone. Writes bench/results/cost.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence

import cv2

from local.deployment import LocalDeployment
from local.events import s3_put_event
from local.samples import put_object

from .data import ROOT
from .load import OtherLoad, cpu_count

PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # USD, first tier
PRICE_PER_REQUEST = 0.20 / 1_000_000  # USD, both architectures
SIZES = {"2 MP": (1632, 1224), "12 MP": (4000, 3000)}
RESULTS = ROOT / "bench" / "results"


def cost_per_thousand(duration_ms: float, memory_mb: int, arch: str) -> float:
    """USD for 1,000 invocations of `duration_ms` each at `memory_mb` (billed per ms, GB = 1024 MB)."""
    gb_seconds = memory_mb / 1024 * duration_ms / 1000
    return 1000 * (gb_seconds * PRICE_PER_GB_SECOND[arch] + PRICE_PER_REQUEST)


def measure(repeats: int) -> tuple[list[dict[str, object]], int]:
    """(one row per size: the worker's median warm billed duration, PNG output; MemorySize)."""
    photo = cv2.imread(str(ROOT / "samples" / "coffee.jpg"))
    rows: list[dict[str, object]] = []
    with LocalDeployment() as stack:
        memory = int(stack.configs[stack.s3_function].memory_mb)
        worker = stack.emulator(stack.s3_function)
        prefix = stack.variable(stack.s3_function, "INPUT_PREFIX")
        for size, (width, height) in SIZES.items():
            data = bytes(cv2.imencode(".jpg", cv2.resize(photo, (width, height)), [cv2.IMWRITE_JPEG_QUALITY, 90])[1])
            durations = []
            for attempt in range(repeats + 1):  # the first may be the cold start
                key = f"{prefix}cost/{size.replace(' ', '')}-{attempt}.jpg"
                invocation = worker.invoke(s3_put_event([put_object(stack.s3, stack.input_bucket, key, data)]))
                if not invocation.cold and invocation.duration_ms is not None:
                    durations.append(invocation.duration_ms)
            rows.append({"size": size, "format": "png", "duration_ms": round(statistics.median(durations), 1)})
            print(rows[-1], flush=True)
    return rows, memory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with OtherLoad() as load:
        rows, memory = measure(args.repeats)
    lines = [
        "# Lambda cost per 1,000 images",
        "",
        f"The S3 worker under the Lambda emulator, warm, median of {args.repeats}; MemorySize {memory} MB; the "
        f"other processes used {load.cores:.2f} of {cpu_count()} cores meanwhile. Prices: US East (N. Virginia), "
        "first tier, $0.0000166667 (x86_64) and $0.0000133334 (arm64) per GB-s, $0.20 per million requests "
        "(https://aws.amazon.com/lambda/pricing/, read 2026-12-02). arm64 at the same duration (not measured).",
        "",
        "| image | billed duration | x86_64 per 1,000 | arm64 per 1,000 |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        ms = float(row["duration_ms"])  # type: ignore[arg-type]
        x86, arm = cost_per_thousand(ms, memory, "x86_64"), cost_per_thousand(ms, memory, "arm64")
        lines.append(f"| {row['size']} {row['format']} | {ms:.0f} ms | ${x86:.4f} | ${arm:.4f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cost.json").write_text(json.dumps({"memory_mb": memory, "other_cores": load.cores, "rows": rows}))
    (RESULTS / "cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
