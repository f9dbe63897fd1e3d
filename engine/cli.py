"""`bgremove INPUT... --out DIR` (or `python -m engine`): cut out files and folders (recursively).

Which files, where their cut-outs go and how they are written is files.py; `-j N` runs N worker
processes (parallel.py), `--watch DIR` takes images as they land (watch.py), `-` reads stdin or
writes stdout (`cat a.jpg | bgremove - --out - > a.png`), `--list-models` shows the manifests'
figures (catalog.py). Exit codes: 0 all done, 1 some inputs failed or could not be read, 2 a usage
or deployment error (before any image), 130 interrupted (Ctrl-C: the summary and the report still
cover what was done).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from .catalog import models_table
from .errors import DeploymentError, EngineError, InputError, InvalidOptionError
from .files import Job, Unreadable, check_out_dir, find_images, is_done, plan_jobs, write_whole
from .formats import FORMATS
from .options import Options, OutputMode
from .parallel import run_parallel
from .pipeline import load_model, remove_background
from .settings import DEFAULT_MODEL, EngineSettings
from .version import __version__
from .watch import landed_jobs

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
STREAM = Path("-")  # stdin as the input, stdout as --out


def build_parser(prog: str = "bgremove") -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Remove the background of images: writes one cut-out per input into --out.",
    )
    parser.add_argument(
        "inputs", nargs="*", type=Path, help="image files or folders (searched recursively); - reads stdin"
    )
    parser.add_argument("--out", "-o", type=Path, help="output folder (created if missing); - writes stdout")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--list-models", action="store_true", help="list the models (size, speed, quality), exit")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="worker processes (default 1; see README)")
    parser.add_argument("--watch", type=Path, metavar="DIR", help="cut out images as they land in DIR, until Ctrl-C")
    parser.add_argument("--interval", type=float, default=1.0, help="--watch: seconds between looks (default 1)")
    parser.add_argument("--model", help=f"model id (default: ENGINE_MODEL or {DEFAULT_MODEL})")
    parser.add_argument("--format", help=f"output format: {', '.join(FORMATS)} (default {defaults.format})")
    parser.add_argument("--quality", help="0-100 for webp, jpeg, avif (webp 100 = lossless; default per format)")
    parser.add_argument("--preview", action="store_true", help="at most 0.25 MP, from a downscaled input (fast)")
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
    parser.add_argument(
        "--worst",
        type=int,
        default=0,
        metavar="N",
        help="list the N cut-outs with the highest estimated error at the end (look at those first)",
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
        "quality": args.quality,
        "size": "preview" if args.preview else None,
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


def summarize(
    records: Sequence[dict[str, object]], skipped: int, not_started: int | None = None, worst: int = 0
) -> str:
    """The closing lines: counts, the median time, and every input a user must look at (with
    `worst`, also the cut-outs of highest estimated error); `not_started` is given when the run
    was interrupted."""
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
    if worst > 0 and ok:
        ranked = sorted(ok, key=lambda r: -float(r["estimated_error"]))[:worst]  # type: ignore[arg-type]
        lines.append(f"{len(ranked)} with the highest estimated error (look at these first):")
        lines += [f"  {float(r['estimated_error']):.3f} {r['input']}" for r in ranked]  # type: ignore[arg-type]
    lines += [f"NOT READABLE {r['input']}: {r['reason']}" for r in unread]
    lines += [f"FAILED {r['input']}: {r['error']}: {r['reason']}" for r in failed]
    return "\n".join(lines)


def open_report(path: Path | None) -> TextIO | None:
    """The report file, opened (its folder created) before any work, or None without --report."""
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


def usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of arguments argparse cannot check, or None."""
    if args.out is None:
        return "the following arguments are required: --out"
    if not args.inputs and args.watch is None:
        return "give image files or folders, - for stdin, or --watch DIR"
    if args.jobs < 1:
        return f"--jobs must be at least 1, got {args.jobs}"
    if args.out == STREAM and (len(args.inputs) != 1 or args.inputs[0].is_dir() or args.watch is not None):
        return "--out - writes one image to stdout: give exactly one image file or -"
    if STREAM in args.inputs and len(args.inputs) > 1:
        return "- (stdin) is one image: give it alone"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("bgremove" if Path(sys.argv[0]).name == "bgremove" else "python -m engine")
    args = parser.parse_args(argv)
    if args.list_models:
        config = EngineSettings.from_env()
        print(models_table(config.model_dir, config.model))
        return EXIT_OK
    problem = usage_problem(args)
    if problem:
        parser.error(problem)
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
    if STREAM in (args.out, *args.inputs):
        return run_stream(args.inputs[0], args.out, options, config)
    return run_files(args, options, config)


def run_stream(source: Path, out: Path, options: Options, config: EngineSettings) -> int:
    """One image from stdin or a file to stdout or into a folder; errors on stderr, never stdout."""
    if out == STREAM and sys.stdout.isatty():
        print("error: --out - writes the image to stdout, which is a terminal: redirect it (> a.png)", file=sys.stderr)
        return EXIT_USAGE
    try:
        data = sys.stdin.buffer.read() if source == STREAM else source.read_bytes()
        cutout = remove_background(data, options, config)
    except InputError as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_FAILURES
    except OSError as exc:
        print(f"error: read_error: {exc}", file=sys.stderr)
        return EXIT_FAILURES
    if out == STREAM:
        sys.stdout.buffer.write(cutout.data)
        sys.stdout.buffer.flush()
    else:
        name = "stdin" if source == STREAM else source.name
        write_whole(out / (name + options.output_format.suffix), cutout.data)
    return EXIT_OK


def run_files(args: argparse.Namespace, options: Options, config: EngineSettings) -> int:
    """The folders and files of the command line (or the watched folder) into --out."""
    report = None
    inputs = [args.watch] if args.watch is not None else args.inputs
    try:  # every way the run could end in a traceback after the work is refused before it
        found = find_images(inputs, skip=args.out)
        report = open_report(args.report)
        check_out_dir(args.out, inputs)
    except (ValueError, OSError) as exc:
        if report is not None:
            report.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    suffix = options.output_format.suffix
    if args.watch is not None:
        todo: Sequence[Job] = []
        work: Iterable[Job] = landed_jobs(args.watch, args.out, suffix, args.interval)
        unreadable = []
    else:
        jobs = plan_jobs(found.images, args.out, suffix)
        todo = [j for j in jobs if not (args.skip_existing and is_done(j.target))]
        work, unreadable = todo, found.unreadable
    records = [unreadable_record(item) for item in unreadable]
    progress = Progress(len(todo), sys.stderr, not args.quiet and args.watch is None)
    try:
        workers = 1 if args.watch is not None else args.jobs  # a watched folder is taken one file at a time
        interrupted = run_all(work, options, config, records, report, progress, workers)
    except EngineError as exc:  # a broken model: every further image would fail too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if report is not None:
            report.close()
    if args.watch is not None:
        print(summarize(records, 0, 0, args.worst))
        return EXIT_INTERRUPTED
    not_started = None if interrupted is None else len(todo) - interrupted
    print(summarize(records, len(jobs) - len(todo), not_started, args.worst))
    if interrupted is not None:
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if any(not r["ok"] for r in records) else EXIT_OK


def run_all(
    todo: Iterable[Job],
    options: Options,
    config: EngineSettings,
    records: list[dict[str, object]],
    report: TextIO | None,
    progress: Progress,
    workers: int = 1,
) -> int | None:
    """Run the jobs (in `workers` processes when more than one), appending to `records` and writing
    each line of the report as it is known; on Ctrl-C stop and return how many images were done
    (None when all were)."""
    for record in records:  # the unreadable files, known before any work
        _write_line(report, record)
    done = 0
    if workers > 1:
        results: Iterable[dict[str, object]] = run_parallel(list(todo), options, config, workers, run_job)
    else:
        results = (run_job(job, options, config) for job in todo)
    try:
        for record in results:
            records.append(record)
            _write_line(report, record)
            done += 1
            progress.update(done, Path(str(record["input"])).name)
    except KeyboardInterrupt:
        return done
    return None


def _write_line(report: TextIO | None, record: dict[str, object]) -> None:
    if report is not None:
        report.write(json.dumps(record) + "\n")
        report.flush()
