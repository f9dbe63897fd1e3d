"""`bgremove prep SRC --out DST`: a training set (LoRA: kohya_ss's `N_concept` folders) or a shop's
catalogue made ready from a folder of photos, with the CLI's own planning and run (cli.py, files.py).

- every image is placed on one canvas (PREP_DEFAULTS: 1024x1024, the subject's longer side 85 % of
  it, centred; any flag of the CLI overrides them), under the same relative path;
- its caption and sidecar files (SIDECAR_SUFFIXES, by the input's stem) are copied beside the
  output with the output's stem, so `a.jpg` + `a.txt` become `a.png` + `a.txt` (again for a cut-out
  `--skip-existing` keeps, so captions edited since follow);
- images with no subject, or whose shorter side is under `--min-size`, are not written (nor their
  captions) and are listed; what an earlier run wrote for them in DST is removed (take_out);
- the report (`--report`, by default REPORT_NAME in DST) and the summary (SUMMARY_NAME in DST, and
  stdout) say what was written, skipped and flagged (the findings a curator checks: result.FLAGS);
- `--review sheet.html` (or .jpg) draws the flagged and the worst-estimated cut-outs beside their
  originals (review.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from PIL import Image

from .cli import STREAM, Batch, Record, build_parser, program, review_sheet, run_command
from .files import Job, write_whole
from .options import Options

PREP_DEFAULTS = {"canvas": "1024x1024", "scale": "0.85"}  # SDXL's and kohya's usual size; room around the subject
SIDECAR_SUFFIXES = (".txt", ".caption", ".json")  # kohya's captions (.txt, .caption), metadata (.json)
REPORT_NAME = "prep-report.jsonl"
SUMMARY_NAME = "prep-summary.log"  # not .txt: a trainer would take it for a caption


def build_prep_parser() -> argparse.ArgumentParser:
    parser = build_parser(f"{program()} prep", folders_only=True)
    parser.description = (
        "Prepare a folder for training or a catalogue: every image on one canvas "
        f"(default {PREP_DEFAULTS['canvas']}, scale {PREP_DEFAULTS['scale']}), its captions beside it."
    )
    parser.add_argument(
        "--min-size", type=int, default=0, metavar="PX", help="skip images whose shorter side is under PX pixels"
    )
    return parser


def main(argv: Sequence[str]) -> int:
    return run_command(build_prep_parser(), argv, PREP_DEFAULTS, prepare)


def prepare(args: argparse.Namespace, options: Options) -> Batch:
    """The prep run's Batch; ValueError for arguments it does not take."""
    if args.watch is not None or STREAM in (args.out, *args.inputs):
        raise ValueError("prep takes folders and files and writes into a folder: not --watch, not -")
    if args.min_size < 0:
        raise ValueError(f"--min-size must be at least 0, got {args.min_size}")
    args.skip_empty = True  # an image with no subject has no place in a training set
    args.report = args.report or args.out / REPORT_NAME
    return Batch(screen=partial(too_small, min_size=args.min_size), finish=copy_sidecars,
                 close=partial(write_summary, out=args.out, review=args.review))  # fmt: skip


def too_small(job: Job, min_size: int) -> Record | None:
    """The record of an image whose shorter side is under `min_size` (read from its header), else None."""
    if not min_size:
        return None
    try:
        with Image.open(job.source) as header:
            width, height = header.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # the cut-out reports what is wrong with it
    if min(width, height) >= min_size:
        return None
    reason = f"too_small: {width}x{height}, under --min-size {min_size} px"
    return take_out({"input": str(job.source), "output": str(job.target), "ok": True, "skipped": True,
                     "written": False, "reason": reason})  # fmt: skip


def take_out(record: Record) -> Record:
    """Remove the cut-out and caption copies an earlier run left in the set for an image this run
    leaves out (too small, no subject), so the set holds what the report says; listed in the record."""
    output, source = Path(str(record["output"])), Path(str(record["input"]))
    stale = [output, *(output.with_name(output.stem + suffix) for suffix in SIDECAR_SUFFIXES)]
    removed = []
    for path in stale:
        if path.is_file() and not path.is_symlink() and path.parent != source.parent:  # never beside the photo
            path.unlink()
            removed.append(str(path))
    return {**record, "removed": removed} if removed else record


def sidecars_of(source: Path) -> list[Path]:
    """The caption and sidecar files beside an image, by its stem."""
    return [path for suffix in SIDECAR_SUFFIXES if (path := source.with_suffix(suffix)).is_file()]


def in_the_set(record: Record) -> bool:
    """Whether the record's cut-out is in the prepared set: written in this run, or left as an
    earlier run wrote it by --skip-existing (whose records say nothing of `written`; an image left
    out as too small or with no subject says `written: false`)."""
    return bool(record.get("ok") and (record.get("written") or (record.get("skipped") and "written" not in record)))


def copy_sidecars(record: Record) -> Record:
    """Copy the sidecars of an image in the set beside its output, with the output's stem (again for
    one --skip-existing left, so edited captions follow); listed in the record."""
    if not in_the_set(record):
        return take_out(record) if record.get("ok") and record.get("written") is False else record
    output = Path(str(record["output"]))
    copied = []
    for sidecar in sidecars_of(Path(str(record["input"]))):
        target = output.with_name(output.stem + sidecar.suffix)
        write_whole(target, sidecar.read_bytes())
        copied.append(str(target))
    return {**record, "sidecars": copied}


def write_summary(records: Sequence[Record], summary: str, out: Path, review: Path | None) -> None:
    """The summary, kept in the output folder beside the set, and the review sheet when asked for."""
    write_whole(out / SUMMARY_NAME, (summary + "\n").encode())
    review_sheet(records, summary, review)
