"""`bgremove INPUT... --out DIR` (or `python -m bgremove`; `python -m engine` in the repository): cut out
files and folders (recursively).

Which files, where their cut-outs go and how they are written is files.py; `-j N` runs N worker
processes (parallel.py), `--watch DIR` takes images as they land (watch.py), `-` reads stdin or
writes stdout (`cat a.jpg | bgremove - --out - > a.png`), `--list-models` shows the manifests'
figures (catalog.py). Exit codes: 0 all done, 1 some inputs failed or could not be read, 2 a usage
or deployment error (before any image; or `-j` workers that cannot start), 130 interrupted by Ctrl-C
and 143 by SIGTERM (the summary and the report still cover what was done). Flags that would do
nothing with the others given, and `-j` over the usable CPUs (capped), are warned about on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TextIO

from .catalog import models_table
from .cpus import usable_cpus
from .encode import LOSSLESS
from .errors import CorruptImageError, DeploymentError, EmptyInputError, EngineError, InputError, InvalidOptionError
from .files import (
    Job,
    Unreadable,
    check_not_a_photo,
    check_out_dir,
    find_images,
    is_done,
    plan_jobs,
    remove_dead_partials,
    write_whole,
)
from .formats import FORMATS
from .options import Options, OutputMode
from .parallel import WorkerStartError, run_parallel
from .pipeline import load_model, recorded_recipe, remove_background
from .result import FLAGS
from .review import check_target as check_review_target
from .review import write_review
from .settings import DEFAULT_MODEL, EngineSettings
from .version import __version__
from .watch import SETTLE_S, Watcher

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader stopped early
INTERVAL_S = 1.0  # --watch: seconds between looks
PREP = "prep"  # the first argument that starts the preparation mode (prep.py)
PASSED_OVER_KINDS = 6  # suffixes named in the summary's line of files passed over
STREAM = Path("-")  # stdin as the input, stdout as --out
MAYBE_UNFINISHED = (EmptyInputError.code, CorruptImageError.code)  # --watch: a writer may only have paused


def program() -> str:
    """The command as the user typed it: the `bgremove` script (bgremove.exe on Windows), else `python -m`
    this package: `bgremove` where pip installed it, `engine` in the repository."""
    return "bgremove" if Path(sys.argv[0]).stem == "bgremove" else f"python -m {__package__}"


def add_watch_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--watch", type=Path, metavar="DIR", help="cut out images as they land in DIR, until Ctrl-C or SIGTERM"
    )
    parser.add_argument(
        "--interval", type=float, default=INTERVAL_S, help=f"--watch: seconds between looks (default {INTERVAL_S:g})"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_S,
        help=f"--watch: seconds a file must stay unchanged before it is taken (default {SETTLE_S:g})",
    )


def build_parser(prog: str = "bgremove", *, folders_only: bool = False) -> argparse.ArgumentParser:
    """The CLI's flags; `folders_only` (prep) leaves out stdin/stdout and --watch, which it refuses."""
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Remove the background of images: writes one cut-out per input into --out.",
        epilog=None
        if folders_only
        else f"{prog} prep FOLDER --out OUT prepares a training set or uniform product shots ({prog} prep --help).",
    )
    streams = "" if folders_only else "; - reads stdin"
    parser.add_argument("inputs", nargs="*", type=Path, help=f"image files or folders (searched recursively){streams}")
    streams = "" if folders_only else "; - writes stdout"
    parser.add_argument("--out", "-o", type=Path, help=f"output folder (created if missing){streams}")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--list-models", action="store_true", help="list the models (size, speed, quality), exit")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="worker processes sharing the queue, each loading the model once (default 1; docs/api.md, Command line)",
    )
    if folders_only:
        parser.set_defaults(watch=None, interval=INTERVAL_S, settle=SETTLE_S)
    else:
        add_watch_flags(parser)
    parser.add_argument("--model", help=f"model id (default: ENGINE_MODEL or {DEFAULT_MODEL})")
    parser.add_argument("--format", help=f"output format: {', '.join(FORMATS)} (default {defaults.format})")
    parser.add_argument("--quality", help="0-100 for webp, jpeg, avif (webp 100 = lossless; default per format)")
    parser.add_argument("--preview", action="store_true", help="at most 0.25 MP, from a downscaled input (fast)")
    parser.add_argument("--mask", action="store_true", help="write the alpha matte only (grayscale)")
    parser.add_argument("--crop", action="store_true", help="crop to the subject")
    parser.add_argument(
        "--margin",
        help=f"crop margin: 20px, 10%% or a share of the subject's size (default {defaults.crop_margin}); with "
        "--canvas, the least free space kept around the subject",
    )
    parser.add_argument("--canvas", metavar="WxH", help="output size, e.g. 1024x1024, padded with the background")
    parser.add_argument("--scale", help="the subject's longer side as a share of the canvas: 0.1-1.0, 85%%, original")
    parser.add_argument("--position", help="where the subject's centre goes: center, original or X%%,Y%%")
    parser.add_argument(
        "--roi", metavar="X1,Y1,X2,Y2", help="look for the subject only here (each 200px, 25%% or a share 0.25)"
    )
    parser.add_argument("--background", help="flatten onto a colour, e.g. '#ffffff' or 255,255,255")
    parser.add_argument("--no-refine", action="store_true", help="skip edge-aware refinement")
    parser.add_argument("--soft-edges", action="store_true", help="matting-style soft edges everywhere (hair, fur)")
    parser.add_argument(
        "--crisp-edges",
        action="store_true",
        help="a firm contour everywhere (the default is soft only where the edge is)",
    )
    parser.add_argument("--no-decontaminate", action="store_true", help="keep the original edge colours")
    parser.add_argument("--compress-level", help=f"0-9, PNG's zlib level (default {defaults.compress_level}: fast)")
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave outputs that earlier runs made from the same, unchanged input with the same options",
    )
    parser.add_argument(
        "--skip-empty", action="store_true", help="write no image where no subject was found (still reported)"
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="write one JSON line per input as it finishes (timings, findings such as no_subject, error)",
    )
    parser.add_argument(
        "--review",
        type=Path,
        metavar="SHEET",
        help="write a review sheet (.html or .jpg): the flagged and worst-estimated cut-outs beside their originals",
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
        "crisp_edges": "true" if args.crisp_edges else None,
        "decontaminate": "false" if args.no_decontaminate else None,
        "compress_level": args.compress_level,
        "quality": args.quality,
        "size": "preview" if args.preview else None,
        "canvas": args.canvas,
        "scale": args.scale,
        "position": args.position,
        "roi": args.roi,
    }
    return {name: value for name, value in given.items() if value is not None}


def run_job(job: Job, options: Options, config: EngineSettings, skip_empty: bool = False) -> dict[str, object]:
    """Process one file; bad input becomes a record with its reason, never an exception. With
    `skip_empty`, a cut-out with no subject is reported (`"written": false`) but not written."""
    record: dict[str, object] = {"input": str(job.source), "output": str(job.target)}
    try:
        cutout = remove_background(job.source.read_bytes(), options, config)
    except DeploymentError:  # a broken model or setting: every further image would fail too
        raise
    except EngineError as exc:  # bad input, or an image its output format cannot hold
        return {**record, "ok": False, "error": exc.code, "reason": str(exc)}
    except OSError as exc:
        return {**record, "ok": False, "error": "read_error", "reason": str(exc)}
    except Exception as exc:  # a bug met by one image must not lose the rest of the batch
        return {**record, "ok": False, "error": "internal_error", "reason": f"{type(exc).__name__}: {exc}"}
    written = not (skip_empty and cutout.no_subject)
    try:
        if written:
            write_whole(job.target, cutout.data, recorded_recipe(options, config))
    except OSError as exc:
        return {**record, "ok": False, "error": "write_error", "reason": str(exc)}
    return {
        **record,
        "ok": True,
        "written": written,
        "width": cutout.width,
        "height": cutout.height,
        "model": cutout.model_id,
        **cutout.findings(),
        **cutout.timings.as_dict(),
    }


def run_job_skipping_empty(job: Job, options: Options, config: EngineSettings) -> dict[str, object]:
    """`run_job` for `--skip-empty` (a module-level function: worker processes import it by name)."""
    return run_job(job, options, config, skip_empty=True)


def unreadable_record(item: Unreadable) -> dict[str, object]:
    return {"input": str(item.path), "ok": False, "error": "not_readable", "reason": item.reason}


def skipped_record(job: Job) -> dict[str, object]:
    """An input `--skip-existing` left alone: its output was made from it as it is now, with these options."""
    return {"input": str(job.source), "output": str(job.target), "ok": True, "skipped": True}


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
    records: Sequence[dict[str, object]],
    not_started: int | None = None,
    worst: int = 0,
    stopped_by: str = "Ctrl-C",
    passed_over: Mapping[str, int] | None = None,
) -> str:
    """The closing lines: counts, the files of the folders passed over for their names (by suffix),
    the median time, and every input a user must look at (with `worst`, also the cut-outs of
    highest estimated error); `not_started` is given when the run was interrupted (by `stopped_by`)."""
    skipped = [r for r in records if r.get("skipped")]
    ok = [r for r in records if r["ok"] and not r.get("skipped")]
    unread = [r for r in records if r.get("error") == "not_readable"]
    failed = [r for r in records if not r["ok"] and r not in unread]
    written = [r for r in ok if r["written"]]
    total = len(records) + (not_started or 0)
    counts = f"{total} inputs: {len(written)} written, {len(skipped)} skipped, {len(failed)} failed"
    counts += f", {len(unread)} not readable as images" if unread else ""
    counts += f", {len(ok) - len(written)} with no subject, not written" if len(written) < len(ok) else ""
    lines = [counts + (f", {not_started} not started" if not_started else "")]  # (--watch: never any)
    if passed_over:
        lines.append(passed_over_line(passed_over))
    if not_started is not None:
        lines.insert(0, f"interrupted ({stopped_by}): the report and these counts cover the images finished")
    if ok:
        times = [float(r["total_ms"]) for r in ok]  # type: ignore[arg-type]
        lines.append(f"median {statistics.median(times):.0f} ms per image (model {ok[0]['model']})")
    lines += flagged_lines(ok)
    if worst > 0 and ok:
        ranked = sorted(ok, key=lambda r: -float(r["estimated_error"]))[:worst]  # type: ignore[arg-type]
        lines.append(f"{len(ranked)} with the highest estimated error (look at these first):")
        lines += [f"  {float(r['estimated_error']):.3f} {r['input']}" for r in ranked]  # type: ignore[arg-type]
    lines += [f"SKIPPED {r['input']}: {r['reason']}" for r in skipped if r.get("reason")]
    lines += [f"NOT READABLE {r['input']}: {r['reason']}" for r in unread]
    lines += [f"FAILED {r['input']}: {r['error']}: {r['reason']}" for r in failed]
    return "\n".join(lines)


def passed_over_line(passed_over: Mapping[str, int]) -> str:
    """How many files of the folders were not taken as images for their names, the commonest suffixes first."""
    ranked = sorted(passed_over.items(), key=lambda item: (-item[1], item[0]))
    kinds = [f"{count} without a suffix" if not suffix else f"{count} {suffix}" for suffix, count in ranked]
    shown = ", ".join(kinds[:PASSED_OVER_KINDS]) + (", ..." if len(kinds) > PASSED_OVER_KINDS else "")
    return f"{sum(passed_over.values())} files passed over, not named as images (.jpg, .png, ...): {shown}"


FLAG_TITLES = {
    "no_subject": "with no subject found (fully transparent)",
    "several_subjects": "with several subjects of comparable size",
    "subject_cut": "with the subject cut by the frame",
    "small_subject": "with a small subject",
    "first_frame_only": "animated or multi-page, only the first frame cut out",
}


def flagged_lines(records: Sequence[dict[str, object]]) -> list[str]:
    """Each finding a curator looks at (result.FLAGS, and the animated or multi-page inputs of which
    only the first frame was cut out), with the inputs it was found on."""
    lines = []
    for flag in (*FLAGS, "first_frame_only"):
        found = [r for r in records if r.get(flag)]
        if found:
            lines.append(f"{len(found)} {FLAG_TITLES[flag]}:")
            lines += [f"  {flag.replace('_', ' ').upper()} {r['input']}" for r in found]
    return lines


def open_report(path: Path | None) -> TextIO | None:
    """The report file, opened (its folder created) before any work, or None without --report."""
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise OSError(f"--report {path}: {exc.strerror or exc}") from None


def usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of arguments argparse cannot check, or None."""
    if args.out is None:
        return "the following arguments are required: --out"
    if not args.inputs and args.watch is None:
        return "give image files or folders, - for stdin, or --watch DIR"
    if args.inputs and args.watch is not None:
        return f"--watch {args.watch} takes no other inputs: watch one folder, or cut out the given ones"
    if args.jobs < 1:
        return f"--jobs must be at least 1, got {args.jobs}"
    if getattr(args, "worst", 0) < 0:
        return f"--worst must be 0 or more, got {args.worst}"
    if args.settle < 0 or args.interval <= 0:
        return "--interval must be above 0 and --settle at least 0"
    if args.out == STREAM and (len(args.inputs) != 1 or args.inputs[0].is_dir() or args.watch is not None):
        return "--out - writes one image to stdout: give exactly one image file or -"
    if STREAM in args.inputs and len(args.inputs) > 1:
        return "- (stdin) is one image: give it alone"
    return None


def idle_flags(args: argparse.Namespace, options: Options) -> list[str]:
    """Warnings for flags that would do nothing with the others given."""
    idle = []
    if args.quality is not None and options.output_format.name == "png":
        idle.append(f"--quality does nothing with {options.output_format.name} output (it applies to webp, jpeg, avif)")
    lossless_webp = options.output_format.name == "webp" and options.encode_quality >= LOSSLESS
    if args.compress_level is not None and options.output_format.name != "png" and not lossless_webp:
        kind = "lossy webp" if options.output_format.name == "webp" else options.output_format.name
        idle.append(f"--compress-level does nothing with {kind} output (it applies to png and lossless webp)")
    if args.margin is not None and not args.crop:
        idle.append("--margin does nothing without --crop")
    if args.background is not None and args.mask:
        idle.append("--background does nothing with --mask (the matte has no colours)")
    if args.soft_edges and args.crisp_edges:
        idle.append("--crisp-edges does nothing with --soft-edges (soft edges win)")
    if args.watch is not None and args.jobs > 1:
        idle.append("--jobs does nothing with --watch (a watched folder is taken one file at a time)")
    if STREAM in (args.out, *args.inputs):
        batch_only = {
            "--report": args.report is not None,
            "--review": getattr(args, "review", None) is not None,
            "--worst": bool(getattr(args, "worst", 0)),
            "--skip-existing": args.skip_existing,
            "--skip-empty": args.skip_empty,
            "--jobs": args.jobs > 1,
        }
        idle += [f"{flag} does nothing with one image streamed (- in or out)" for flag, on in batch_only.items() if on]
    return idle


def capped_jobs(jobs: int) -> tuple[int, str | None]:
    """At most one worker per usable CPU: more only add processes and memory (each loads the model)."""
    cpus = usable_cpus()
    if jobs <= cpus:
        return jobs, None
    return cpus, f"--jobs {jobs} capped to {cpus}: this machine lets the process use {cpus} CPUs"


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken like Ctrl-C: finish the running images, write the summary and the report."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


Record = dict[str, object]


def _keep(job: Job) -> Record | None:
    return None


def _as_is(record: Record) -> Record:
    return record


def _nothing(records: Sequence[Record], summary: str) -> None:
    return None


def review_sheet(records: Sequence[Record], summary: str, target: Path | None) -> None:
    """`--review`: the flagged and worst-estimated cut-outs beside their originals (review.py)."""
    if target is not None:
        shown = write_review(records, target)
        print(f"review sheet: {target} ({shown} cut-outs beside their originals)")


@dataclass(frozen=True)
class Batch:
    """What a batch run does besides cutting out (`bgremove prep`'s, prep.py; the plain run's does
    nothing more): `screen` leaves an input out before any work (its record, or None to take it),
    `finish` completes each record as it comes (those `--skip-existing` left too), `close` is given
    every record and the summary."""

    screen: Callable[[Job], Record | None] = _keep
    finish: Callable[[Record], Record] = _as_is
    close: Callable[[Sequence[Record], str], None] = _nothing


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == [PREP]:  # `bgremove prep SRC --out DST ...`: prep.py
            from .prep import main as prep_main  # noqa: PLC0415 (prep builds on this module)

            code = prep_main(argv[1:])
        else:
            code = run_command(build_parser(program()), argv)
        sys.stdout.flush()  # here, where a closed pipe can still be answered, not at the interpreter's exit
    except BrokenPipeError:  # the reader went away (`bgremove --list-models | head -3`): stop, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_PIPE
    return code


BatchFor = Callable[[argparse.Namespace, Options], Batch]  # may raise ValueError: a usage problem


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    defaults: Mapping[str, str] | None = None,
    batch_for: BatchFor | None = None,
) -> int:
    """Parse the command line (option text over `defaults`) and run it; `batch_for` makes the
    run's `Batch` from the arguments and options (prep.py's), or refuses them with a ValueError."""
    args = parser.parse_args(argv)
    if args.list_models:
        try:  # as a run would: a bad ENGINE_* variable or a default that cannot load is exit 2 here too
            config = EngineSettings.from_env()
            load_model(config)
        except (DeploymentError, InvalidOptionError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(models_table(config.model_dir, config.model))
        return EXIT_OK
    problem = usage_problem(args)
    if problem:
        parser.error(problem)
    try:
        options = Options.from_strings({**(defaults or {}), **option_strings(args)})
        batch = batch_for(args, options) if batch_for else Batch(close=partial(review_sheet, target=args.review))
    except (InvalidOptionError, ValueError) as exc:
        parser.error(str(exc))  # exits 2 with the usage line, as for any bad flag
    args.jobs, capped = capped_jobs(args.jobs)
    for warning in [*idle_flags(args, options), *([capped] if capped else [])]:
        print(f"warning: {warning}", file=sys.stderr)
    try:  # a bad ENGINE_* variable, a model that is not installed: no image could be done
        config = EngineSettings.from_env()
        load_model(config, options.model)
    except (DeploymentError, InvalidOptionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if STREAM in (args.out, *args.inputs):
        return run_stream(args.inputs[0], args.out, options, config)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return run_files(args, options, config, batch)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_stream(source: Path, out: Path, options: Options, config: EngineSettings) -> int:
    """One image from stdin or a file to stdout or into a folder; errors on stderr, never stdout."""
    if out == STREAM and sys.stdout.isatty():
        print("error: --out - writes the image to stdout, which is a terminal: redirect it (> a.png)", file=sys.stderr)
        return EXIT_USAGE
    if out != STREAM:  # an --out folder that cannot be used is refused before the work, as in a batch run
        try:
            check_out_dir(out, [])
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
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
        return EXIT_OK
    name = "stdin" if source == STREAM else source.name
    try:
        write_whole(out / (name + options.output_format.suffix), cutout.data, recorded_recipe(options, config))
    except OSError as exc:
        print(f"error: write_error: {exc}", file=sys.stderr)
        return EXIT_FAILURES
    return EXIT_OK


def run_files(args: argparse.Namespace, options: Options, config: EngineSettings, batch: Batch = Batch()) -> int:
    """The folders and files of the command line (or the watched folder) into --out."""
    report = None
    inputs = [args.watch] if args.watch is not None else args.inputs
    suffix = options.output_format.suffix
    try:  # every way the run could end in a traceback after the work is refused before it
        found = find_images(inputs, skip=args.out)
        jobs = plan_jobs(found.images, args.out, suffix) if args.watch is None else []
        if args.review is not None:
            check_review_target(args.review)
        if args.report is not None:
            check_not_a_photo("--report", args.report, "report")
        check_out_dir(args.out, inputs)  # creates --out
        report = open_report(args.report)  # last: opening it empties it
    except (ValueError, OSError) as exc:
        if report is not None:
            report.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    runner = run_job_skipping_empty if args.skip_empty else run_job
    screened = {job: batch.screen(job) for job in jobs}  # (prep: an image under --min-size, even one done before)
    left_out = [record for record in screened.values() if record is not None]
    taken = [job for job, record in screened.items() if record is None]
    recipe = recorded_recipe(options, config)  # what each output records (files.py)
    done = [job for job in taken if args.skip_existing and is_done(job, recipe)]
    todo = [job for job in taken if job not in done]
    kept = [batch.finish(skipped_record(job)) for job in done]  # (prep: their captions brought up to date)
    records = [unreadable_record(item) for item in found.unreadable] + kept + left_out
    progress = Progress(len(todo), sys.stderr, not args.quiet and args.watch is None)
    watcher = None
    if args.watch is not None:
        watcher = Watcher(args.watch, args.out, suffix, args.interval, args.settle, recipe=recipe)
        results: Iterable[dict[str, object]] = _watched(watcher, runner, options, config)
    elif args.jobs > 1:
        results = run_parallel(todo, options, config, args.jobs, runner)
    else:
        results = (runner(job, options, config) for job in todo)
    try:
        stopped = run_all(map(batch.finish, results), records, report, progress)
    except (DeploymentError, WorkerStartError) as exc:  # a broken model, workers that cannot start: all would fail
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if report is not None:
            report.close()
        made = [job.target for job in taken] + sorted(watcher.targets if watcher else ())
        remove_dead_partials(made)  # of workers killed mid-write, of runs (and watchers) killed
    finished = len(records) - len(found.unreadable) - len(done) - len(left_out)
    not_started = None if stopped is None else max(0, len(todo) - finished)
    stopped_by = "SIGTERM" if isinstance(stopped, Terminated) else "Ctrl-C"
    passed_over = found.passed_over if args.watch is None else None  # (a watched folder's change)
    summary = summarize(records, not_started, args.worst, stopped_by, passed_over)
    print(summary)
    batch.close(records, summary)
    if stopped is not None:
        return EXIT_TERMINATED if isinstance(stopped, Terminated) else EXIT_INTERRUPTED
    return EXIT_FAILURES if any(not r["ok"] for r in records) else EXIT_OK


def _watched(
    watcher: Watcher,
    runner: Callable[[Job, Options, EngineSettings], dict[str, object]],
    options: Options,
    config: EngineSettings,
) -> Iterator[dict[str, object]]:
    """The records of the images landing in the watched folder, one at a time, forever; an empty
    or corrupt file that may still be being written is held back and taken again (watch.py)."""
    for job in watcher.jobs():
        record = runner(job, options, config)
        if record.get("error") in MAYBE_UNFINISHED and watcher.retry_later(job.source):
            continue
        yield record


def run_all(
    results: Iterable[dict[str, object]],
    records: list[dict[str, object]],
    report: TextIO | None,
    progress: Progress,
) -> KeyboardInterrupt | None:
    """Append each record to `records` as it is known (those already there first) and write it to
    the report; on Ctrl-C or SIGTERM stop and return that interruption (None when all were done)."""
    for record in records:  # the unreadable and skipped files, known before any work
        _write_line(report, record)
    done = 0
    try:
        for record in results:
            records.append(record)
            _write_line(report, record)
            done += 1
            progress.update(done, Path(str(record["input"])).name)
    except KeyboardInterrupt as stop:
        return stop
    return None


def _write_line(report: TextIO | None, record: dict[str, object]) -> None:
    if report is not None:
        report.write(json.dumps(record) + "\n")
        report.flush()
