"""`python -m engine INPUT... --out DIR`: cut out files and folders (recursively) from the shell.

Which files, where their cut-outs go and how they are written is files.py. Exit codes: 0 all done,
1 some inputs failed or could not be read, 2 a usage or deployment error (before any image), 130
interrupted (Ctrl-C: the summary and the report still cover what was done).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .errors import DeploymentError, EngineError, InputError, InvalidOptionError
from .files import Job, Unreadable, check_out_dir, find_images, is_done, plan_jobs, write_whole
from .formats import FORMATS
from .options import Options, OutputMode
from .pipeline import load_model, remove_background
from .settings import DEFAULT_MODEL, EngineSettings

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    parser.add_argument("--soft-edges", action="store_true", help="matting-style soft edges (hair, fur)")
    parser.add_argument("--no-decontaminate", action="store_true", help="keep the original edge colours")
    parser.add_argument("--compress-level", help=f"0-9, PNG's zlib level (default {defaults.compress_level}: fast)")
    parser.add_argument("--skip-existing", action="store_true", help="leave outputs that earlier runs finished")
    parser.add_argument(
        "--report",
        type=Path,
        help="write one JSON line per input as it finishes (timings, findings such as no_subject, error)",
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
        "soft_edges": "true" if args.soft_edges else None,
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
    try:
        write_whole(job.target, cutout.data)
    except OSError as exc:
        return {**record, "ok": False, "error": "write_error", "reason": str(exc)}
    return {
        **record,
        "ok": True,
        "width": cutout.width,
        "height": cutout.height,
        "model": cutout.model_id,
        **cutout.findings(),
        **cutout.timings.as_dict(),
    }


def unreadable_record(item: Unreadable) -> dict[str, object]:
    return {"input": str(item.path), "ok": False, "error": "not_readable", "reason": item.reason}


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


def summarize(records: Sequence[dict[str, object]], skipped: int, not_started: int | None = None) -> str:
    """The closing lines: counts, the median time, and every input a user must look at;
    `not_started` is given when the run was interrupted."""
    ok = [r for r in records if r["ok"]]
    unread = [r for r in records if r.get("error") == "not_readable"]
    failed = [r for r in records if not r["ok"] and r not in unread]
    total = len(records) + skipped + (not_started or 0)
    counts = f"{total} inputs: {len(ok)} written, {skipped} skipped, {len(failed)} failed"
    counts += f", {len(unread)} not readable as images" if unread else ""
    lines = [counts + (f", {not_started} not started" if not_started is not None else "")]
    if not_started is not None:
        lines.insert(0, "interrupted (Ctrl-C): the report and these counts cover the images finished")
    if ok:
        times = [float(r["total_ms"]) for r in ok]  # type: ignore[arg-type]
        lines.append(f"median {statistics.median(times):.0f} ms per image (model {ok[0]['model']})")
    empty = [r for r in ok if r["no_subject"]]
    if empty:
        lines.append(f"{len(empty)} with no subject found (fully transparent):")
        lines += [f"  NO SUBJECT {r['input']}" for r in empty]
    lines += [f"NOT READABLE {r['input']}: {r['reason']}" for r in unread]
    lines += [f"FAILED {r['input']}: {r['error']}: {r['reason']}" for r in failed]
    return "\n".join(lines)


def open_report(path: Path | None) -> TextIO | None:
    """The report file, opened (its folder created) before any work, or None without --report."""
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


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
    report = None
    try:  # every way the run could end in a traceback after the work is refused before it
        found = find_images(args.inputs, skip=args.out)
        report = open_report(args.report)
        check_out_dir(args.out, args.inputs)
    except (ValueError, OSError) as exc:
        if report is not None:
            report.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    jobs = plan_jobs(found.images, args.out, options.output_format.suffix)
    todo = [j for j in jobs if not (args.skip_existing and is_done(j.target))]
    records = [unreadable_record(item) for item in found.unreadable]
    try:
        interrupted = run_all(todo, options, config, records, report, Progress(len(todo), sys.stderr, not args.quiet))
    except EngineError as exc:  # a broken model: every further image would fail too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if report is not None:
            report.close()
    print(summarize(records, len(jobs) - len(todo), None if interrupted is None else len(todo) - interrupted))
    if interrupted is not None:
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if any(not r["ok"] for r in records) else EXIT_OK


def run_all(
    todo: Sequence[Job],
    options: Options,
    config: EngineSettings,
    records: list[dict[str, object]],
    report: TextIO | None,
    progress: Progress,
) -> int | None:
    """Run the jobs, appending to `records` and writing each line of the report as it is known;
    on Ctrl-C stop and return how many images were done (None when all were)."""
    for record in records:  # the unreadable files, known before any work
        _write_line(report, record)
    done = 0
    try:
        for job in todo:
            record = run_job(job, options, config)
            records.append(record)
            _write_line(report, record)
            done += 1
            progress.update(done, job.source.name)
    except KeyboardInterrupt:
        return done
    return None


def _write_line(report: TextIO | None, record: dict[str, object]) -> None:
    if report is not None:
        report.write(json.dumps(record) + "\n")
        report.flush()
