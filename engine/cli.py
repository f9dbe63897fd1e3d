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

from .decode import INPUT_SUFFIXES
from .errors import DeploymentError, EngineError, InputError, InvalidOptionError
from .formats import FORMATS
from .options import Options, OutputMode
from .pipeline import load_model, remove_background
from .settings import DEFAULT_MODEL, EngineSettings

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
            files = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
            found.extend((p, p.relative_to(item)) for p in files)
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return found


def plan_jobs(images: Sequence[tuple[Path, Path]], out_dir: Path, suffix: str) -> list[Job]:
    """Map each input to `<out>/<relative path>` with the output format's `suffix` in place of its
    own; inputs that would share a name keep their original extension (`a.jpg.png`, `a.png.png`)
    so nothing is overwritten."""
    plain = [out_dir / rel.with_suffix(suffix) for _, rel in images]
    taken: dict[Path, int] = {}
    for target in plain:
        taken[target] = taken.get(target, 0) + 1
    return [
        Job(src, out_dir / rel.with_name(rel.name + suffix) if taken[target] > 1 else target)
        for (src, rel), target in zip(images, plain, strict=True)
    ]


def build_parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Remove the background of images: writes one cut-out per input into --out.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders (searched recursively)")
    parser.add_argument("--out", "-o", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--model", help=f"model id (default: ENGINE_MODEL or {DEFAULT_MODEL})")
    parser.add_argument("--format", help=f"output format: {', '.join(FORMATS)} (default {defaults.format})")
    parser.add_argument("--mask", action="store_true", help="write the alpha matte only (grayscale)")
    parser.add_argument("--crop", action="store_true", help="crop to the subject")
    parser.add_argument("--margin", help=f"crop margin, share of the subject size (default {defaults.crop_margin})")
    parser.add_argument("--background", help="flatten onto a colour, e.g. '#ffffff' or 255,255,255")
    parser.add_argument("--no-refine", action="store_true", help="skip edge-aware refinement")
    parser.add_argument("--no-decontaminate", action="store_true", help="keep the original edge colours")
    parser.add_argument("--compress-level", help=f"0-9, PNG's zlib level (default {defaults.compress_level}: fast)")
    parser.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist")
    parser.add_argument(
        "--report", type=Path, help="write one JSON line per input (timings, findings such as no_subject, error)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    return parser


def option_strings(args: argparse.Namespace) -> dict[str, str]:
    """The flags given, as the option text `Options.from_strings` parses (as the API's query is)."""
    given = {
        "model": args.model,
        "format": args.format,
        "output": OutputMode.MASK.value if args.mask else None,
        "crop": "true" if args.crop else None,
        "crop_margin": args.margin,
        "background": args.background,
        "refine": "false" if args.no_refine else None,
        "decontaminate": "false" if args.no_decontaminate else None,
        "compress_level": args.compress_level,
    }
    return {name: value for name, value in given.items() if value is not None}


def run_job(job: Job, options: Options, config: EngineSettings) -> dict[str, object]:
    """Process one file; bad input becomes a record with its reason, never an exception."""
    record: dict[str, object] = {"input": str(job.source), "output": str(job.target)}
    try:
        cutout = remove_background(job.source.read_bytes(), options, config)
    except InputError as exc:
        return {**record, "ok": False, "error": exc.code, "reason": str(exc)}
    except OSError as exc:
        return {**record, "ok": False, "error": "read_error", "reason": str(exc)}
    job.target.parent.mkdir(parents=True, exist_ok=True)
    job.target.write_bytes(cutout.data)
    return {
        **record,
        "ok": True,
        "width": cutout.width,
        "height": cutout.height,
        "model": cutout.model_id,
        **cutout.findings(),
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
    empty = [r for r in ok if r["no_subject"]]
    if empty:
        lines.append(f"{len(empty)} with no subject found (fully transparent):")
        lines += [f"  NO SUBJECT {r['input']}" for r in empty]
    lines += [f"FAILED {r['input']}: {r['error']}: {r['reason']}" for r in failed]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = Options.from_strings(option_strings(args))
    except InvalidOptionError as exc:
        parser.error(str(exc))  # exits 2 with the usage line, as for any bad flag
    try:  # a bad ENGINE_* variable, a model that is not installed: no image could be done
        config = EngineSettings.from_env()
        load_model(config, options.model)
    except (DeploymentError, InvalidOptionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        jobs = plan_jobs(find_images(args.inputs), args.out, options.output_format.suffix)
    except (EngineError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    todo = [j for j in jobs if not (args.skip_existing and j.target.exists())]
    progress = Progress(len(todo), sys.stderr, enabled=not args.quiet)
    records = []
    try:
        for done, job in enumerate(todo, 1):
            records.append(run_job(job, options, config))
            progress.update(done, job.source.name)
    except EngineError as exc:  # a broken model or option: every further image would fail too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.report:
        args.report.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(summarize(records, len(jobs) - len(todo)))
    return EXIT_FAILURES if any(not r["ok"] for r in records) else EXIT_OK
