"""`python -m engine INPUT... --out DIR`: cut out files and folders (recursively) from the shell."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .errors import EngineError, InputError
from .options import Options, OutputMode, parse_color
from .pipeline import remove_background

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


def find_images(inputs: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(file, its path relative to the input it came from); folders are walked recursively."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            found.extend((p, p.relative_to(item)) for p in files)
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return found


def plan_jobs(images: Sequence[tuple[Path, Path]], out_dir: Path) -> list[Job]:
    """Map each input to `<out>/<relative path>.png`; inputs that would share a name keep their
    original extension (`a.jpg.png`, `a.png.png`) so nothing is overwritten."""
    plain = [out_dir / rel.with_suffix(".png") for _, rel in images]
    taken: dict[Path, int] = {}
    for target in plain:
        taken[target] = taken.get(target, 0) + 1
    return [
        Job(src, out_dir / rel.with_name(rel.name + ".png") if taken[target] > 1 else target)
        for (src, rel), target in zip(images, plain, strict=True)
    ]


def _colour(raw: str) -> tuple[int, int, int]:
    try:
        return parse_color(raw)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Remove the background of images: writes one PNG per input into --out.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders (searched recursively)")
    parser.add_argument("--out", "-o", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--model", help="model id (default: ENGINE_MODEL or u2netp-distilled-int8)")
    parser.add_argument("--mask", action="store_true", help="write the alpha matte only (grayscale PNG)")
    parser.add_argument("--crop", action="store_true", help="crop to the subject")
    parser.add_argument("--margin", type=float, default=0.05, help="crop margin, share of the subject size")
    parser.add_argument("--background", type=_colour, help="flatten onto a colour, e.g. '#ffffff' or 255,255,255")
    parser.add_argument("--no-refine", action="store_true", help="skip edge-aware refinement")
    parser.add_argument("--no-decontaminate", action="store_true", help="keep the original edge colours")
    parser.add_argument("--compress-level", type=int, default=1, help="PNG zlib level 0-9 (default 1: fast)")
    parser.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist")
    parser.add_argument("--report", type=Path, help="write one JSON line per input (timings, uncertainty, error)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    return parser


def options_from_args(args: argparse.Namespace) -> Options:
    return Options(
        model=args.model,
        output=OutputMode.MASK if args.mask else OutputMode.CUTOUT,
        crop=args.crop,
        crop_margin=args.margin,
        background=args.background,
        refine=not args.no_refine,
        decontaminate=not args.no_decontaminate,
        compress_level=args.compress_level,
    )


def run_job(job: Job, options: Options) -> dict[str, object]:
    """Process one file; bad input becomes a record with its reason, never an exception."""
    record: dict[str, object] = {"input": str(job.source), "output": str(job.target)}
    try:
        cutout = remove_background(job.source.read_bytes(), options)
    except InputError as exc:
        return {**record, "ok": False, "error": exc.code, "reason": str(exc)}
    except OSError as exc:
        return {**record, "ok": False, "error": "read_error", "reason": str(exc)}
    job.target.parent.mkdir(parents=True, exist_ok=True)
    job.target.write_bytes(cutout.png)
    return {
        **record,
        "ok": True,
        "width": cutout.width,
        "height": cutout.height,
        "model": cutout.model_id,
        "uncertainty": round(cutout.uncertainty, 4),
        **cutout.timings.as_dict(),
    }


class Progress:
    """A single self-overwriting status line on a terminal, a plain line every 25 files otherwise."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled and total > 1
        self.started = time.perf_counter()
        self.tty = stream.isatty()

    def update(self, done: int, name: str) -> None:
        if not self.enabled or (not self.tty and done % 25 and done != self.total):
            return
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done * (self.total - done)
        line = f"[{done}/{self.total}] {done / self.total:5.1%} {elapsed / done:.2f} s/img ETA {eta:4.0f} s  {name}"
        self.stream.write(("\r" + line[:100].ljust(100)) if self.tty else line + "\n")
        if self.tty and done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def summarize(records: Sequence[dict[str, object]], skipped: int) -> str:
    ok = [r for r in records if r["ok"]]
    failed = [r for r in records if not r["ok"]]
    lines = [f"{len(records) + skipped} inputs: {len(ok)} written, {skipped} skipped, {len(failed)} failed"]
    if ok:
        times = [float(r["total_ms"]) for r in ok]  # type: ignore[arg-type]
        lines.append(f"median {statistics.median(times):.0f} ms per image (model {ok[0]['model']})")
    lines += [f"FAILED {r['input']}: {r['error']}: {r['reason']}" for r in failed]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        options = options_from_args(args)
        jobs = plan_jobs(find_images(args.inputs), args.out)
    except (EngineError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    todo = [j for j in jobs if not (args.skip_existing and j.target.exists())]
    progress = Progress(len(todo), sys.stderr, enabled=not args.quiet)
    records = []
    try:
        for done, job in enumerate(todo, 1):
            records.append(run_job(job, options))
            progress.update(done, job.source.name)
    except EngineError as exc:  # a broken model or option: every further image would fail too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.report:
        args.report.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(summarize(records, len(jobs) - len(todo)))
    return EXIT_FAILURES if any(not r["ok"] for r in records) else EXIT_OK
