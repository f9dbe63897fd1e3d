"""`make run`: every bundled sample through the real function, end to end, on one machine.

Starts a local S3 (moto server) and the S3 worker of template.yaml under the Lambda emulator,
uploads samples/*.jpg under the input prefix, invokes the worker with one S3 put event per image
(the first invoke is the cold start), then once more with a copy of the first image under a new
key (the same work, warm), downloads the cut-outs to out/ and prints a table of what happened.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from engine.result import StageTimings

from .deployment import ROOT, LocalDeployment
from .emulator import Invocation
from .events import NewObject, s3_put_event
from .s3_server import StoredObject, download
from .samples import put_object, sample_images

OUT_DIR = ROOT / "out"
STAGES = StageTimings.stages()


@dataclass(frozen=True)
class Row:
    """One image's trip through the function."""

    label: str
    source: NewObject
    invocation: Invocation
    output_key: str
    output_bytes: int
    metadata: dict[str, str]
    local_path: Path

    def cells(self) -> list[str]:
        timings = json.loads(self.metadata.get("timings", "{}"))
        kind = "cold" if self.invocation.cold else "warm"
        return [
            self.label,
            f"{self.metadata.get('size', '?')} px, {self.source.size // 1024} KiB",
            f"{self.invocation.wall_ms:.0f} ({kind})",
            "/".join(f"{timings.get(f'{stage}_ms', 0):.0f}" for stage in STAGES),
            f"{self.output_key} ({self.output_bytes // 1024} KiB)",
        ]


def process(stack: LocalDeployment, obj: NewObject, label: str, out_dir: Path) -> Row:
    """Invoke the worker for one new object and fetch what it wrote."""
    invocation = stack.emulator(stack.s3_function).invoke(s3_put_event([obj]))
    if invocation.function_error:
        raise RuntimeError(f"the function failed on {obj.key}: {invocation.function_error}")
    result = invocation.payload()["results"][0]
    if not result.startswith("written: "):
        raise RuntimeError(f"no cut-out for {obj.key}: {result}")
    key = result.removeprefix("written: ")
    head: dict[str, Any] = stack.s3.head_object(Bucket=stack.output_bucket, Key=key)
    stored = StoredObject(stack.output_bucket, key, int(head["ContentLength"]), head["ETag"].strip('"'), "")
    path = download(stack.s3, stored, out_dir)
    with Image.open(path) as png:
        if png.mode != "RGBA":
            raise RuntimeError(f"{key} is {png.mode}, not RGBA")
    return Row(label, obj, invocation, key, stored.size, head.get("Metadata", {}), path)


def print_table(rows: list[Row]) -> None:
    header = ["image", "size", "invoke ms", f"{'/'.join(STAGES)} ms", "output key"]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for index, line in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def run(out_dir: Path = OUT_DIR) -> list[Row]:
    with LocalDeployment() as stack:
        function = stack.s3_function
        prefix = stack.variable(function, "INPUT_PREFIX")
        bucket = stack.input_bucket
        print(f"local S3 {stack.server.endpoint}; {function} under the Lambda emulator")
        images = sample_images()
        uploaded = [(image, put_object(stack.s3, bucket, prefix + image.name, image.read_bytes())) for image in images]
        rows = [process(stack, obj, image.name, out_dir) for image, obj in uploaded]
        first = images[0]
        again = put_object(stack.s3, bucket, f"{prefix}again/{first.name}", first.read_bytes())
        rows.append(process(stack, again, f"{first.name} again", out_dir))
        emulator = stack.emulator(function)
        peak = emulator.runtime_peak_rss_mb()
        memory = emulator.config.memory_mb
    print()
    print_table(rows)
    cold = rows[0].invocation
    warm = rows[-1].invocation
    print(
        f"\ncold start: invoke {cold.wall_ms:.0f} ms (init {cold.init_ms or 0:.0f} ms); "
        f"same image warm: {warm.wall_ms:.0f} ms; peak RSS {peak or 0:.0f} MiB of {memory} MB"
    )
    print(
        f"cut-outs in {out_dir.relative_to(ROOT) if out_dir.is_relative_to(ROOT) else out_dir}/{stack.output_bucket}/"
    )
    return rows


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
