"""A review sheet for a curator (`bgremove prep ... --review sheet.html` or `.jpg`): the flagged
cut-outs (result.FLAGS) and those of highest estimated error, each beside its original, so the
doubtful images of a set are seen before training or selling.

HTML is one self-contained file (thumbnails as data URIs); JPEG is one contact sheet. Cut-outs are
drawn on a checkerboard, so transparency shows.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from .decode import apply_exif_orientation
from .files import check_not_a_photo, write_whole
from .result import FLAGS

THUMB_SIDE = 256  # px: a pair fits a laptop screen four times over
REVIEW_WORST = 12  # the cut-outs of highest estimated error shown besides the flagged ones
CHECKER = 16  # px: the checkerboard's square behind transparency
LABEL_HEIGHT = 36  # px under each pair in the JPEG sheet: the name and the findings
PAIRS_PER_ROW = 3  # in the JPEG sheet
CAPTION_CHARS = 80  # a caption's length under a pair in the JPEG sheet

Record = dict[str, object]
SUFFIXES = {".html": "html", ".htm": "html", ".jpg": "jpeg", ".jpeg": "jpeg"}  # the sheet's kind, by its suffix
SHEET_COMMENT = b"bgremove review sheet"  # a JPEG sheet's COM marker: the one image a new sheet may replace


def check_target(target: Path) -> None:
    """Make sure the sheet can be written before any work (its folder created): ValueError naming
    --review for a suffix it is not written in or a folder in its place, OSError where it cannot go."""
    if target.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--review {target}: name it .html or .jpg, the two kinds of sheet there are")
    check_not_a_photo("--review", target, "sheet", ours=is_sheet)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"--review {target}: {exc.strerror or exc}") from None
    if not os.access(target.parent, os.W_OK):
        raise OSError(f"--review {target}: its folder is not writable")


def is_sheet(path: Path) -> bool:
    """Whether `path` is a JPEG sheet an earlier run wrote (its COM marker says so)."""
    try:
        with Image.open(path) as image:
            return bool(image.format == "JPEG" and image.info.get("comment") == SHEET_COMMENT)
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def chosen(records: Sequence[Record], worst: int = REVIEW_WORST) -> list[Record]:
    """The flagged cut-outs, then the `worst` others of highest estimated error."""
    done = [r for r in records if r.get("ok") and not r.get("skipped")]
    flagged = [r for r in done if flags_of(r)]
    ranked = sorted((r for r in done if r not in flagged), key=lambda r: -float(str(r["estimated_error"])))
    return flagged + ranked[:worst]


def flags_of(record: Record) -> list[str]:
    return [flag for flag in FLAGS if record.get(flag)]


def thumbnail(path: Path, checker: bool) -> Image.Image:
    """An image shrunk into THUMB_SIDE, upright; a grey square when it cannot be read or was not written."""
    try:
        with Image.open(path) as opened:
            opened.load()
            apply_exif_orientation(opened)  # as the cut-out was made: EXIF's orientation, not XMP's
            image = opened.convert("RGBA")
    except (OSError, ValueError):
        return Image.new("RGB", (THUMB_SIDE, THUMB_SIDE), (128, 128, 128))
    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    backdrop = _checkerboard(image.size) if checker else Image.new("RGB", image.size, (255, 255, 255))
    backdrop.paste(image, mask=image.getchannel("A"))
    return backdrop


def _checkerboard(size: tuple[int, int]) -> Image.Image:
    board = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], CHECKER):
        for x in range((y // CHECKER) % 2 * CHECKER, size[0], 2 * CHECKER):
            draw.rectangle((x, y, x + CHECKER - 1, y + CHECKER - 1), fill=(204, 204, 204))
    return board


def caption(record: Record, width: int | None = None) -> str:
    """The input's path as given (files of one name in two folders differ), its flags and its
    estimated error; within `width` characters, the path shortened from its start."""
    findings = ", ".join(flags_of(record)) or "no flag"
    tail = f": {findings}; estimated error {float(str(record['estimated_error'])):.3f}"
    name = str(record["input"]).encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # any bytes
    if width is not None and len(name) + len(tail) > width:
        name = "…" + name[len(name) + len(tail) - width + 1 :]
    return name + tail


def pair(record: Record) -> tuple[Image.Image, Image.Image]:
    """(the original, the cut-out) of a record, as thumbnails."""
    return thumbnail(Path(str(record["input"])), False), thumbnail(Path(str(record["output"])), True)


def write_review(records: Sequence[Record], target: Path) -> int:
    """Write the sheet (HTML or JPEG, by `target`'s suffix); return how many cut-outs it shows."""
    shown = chosen(records)
    data = _jpeg(shown) if SUFFIXES.get(target.suffix.lower()) == "jpeg" else _html(shown).encode()
    write_whole(target, data)
    return len(shown)


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _html(shown: Sequence[Record]) -> str:
    rows = []
    for record in shown:
        original, cutout = pair(record)
        rows.append(
            f'<figure><img alt="original" src="{_data_uri(original)}"><img alt="cut-out" src="{_data_uri(cutout)}">'
            f"<figcaption>{html.escape(caption(record))}</figcaption></figure>"
        )
    style = "figure{display:inline-block;margin:8px;font:13px sans-serif}img{margin-right:4px;vertical-align:top}"
    heading = f"<h1>Review: {len(shown)} cut-outs (flagged, then the highest estimated error)</h1>"
    head = f'<head><meta charset="utf-8"><title>Review</title><style>{style}</style></head>'
    return f"<!doctype html><html>{head}<body>{heading}{''.join(rows)}</body></html>"


def _jpeg(shown: Sequence[Record]) -> bytes:
    cell_w, cell_h = 2 * THUMB_SIDE, THUMB_SIDE + LABEL_HEIGHT
    rows = max(1, -(-len(shown) // PAIRS_PER_ROW))
    sheet = Image.new("RGB", (PAIRS_PER_ROW * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for index, record in enumerate(shown):
        x, y = index % PAIRS_PER_ROW * cell_w, index // PAIRS_PER_ROW * cell_h
        original, cutout = pair(record)
        sheet.paste(original, (x, y))
        sheet.paste(cutout, (x + THUMB_SIDE, y))
        draw.text((x + 4, y + THUMB_SIDE + 4), caption(record, CAPTION_CHARS), fill=(0, 0, 0))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=85, comment=SHEET_COMMENT)
    return buffer.getvalue()
