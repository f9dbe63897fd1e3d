"""Where the subject goes on the output: remove.bg's `scale`, `position` and `roi`, and our `canvas`.

- `canvas=WIDTHxHEIGHT` is the output's size; without it the canvas is the input's size, or the
  crop box's with `crop=true` (as remove.bg's is);
- `scale` is the subject's longer side as a share of the canvas (0.1-1.0: its box fits in that share
  of the canvas's width and height); `original` (None) keeps its pixel size, shrunk only where it
  would not fit the canvas;
- `position` is where the centre of the subject's box goes: `center`, `original` (the same share of
  the canvas as of the frame) or `X%,Y%`; `auto` (the default) is `center` when a scale or a canvas
  is given, else `original`, as remove.bg's;
- `roi=x1,y1,x2,y2` (px, % or a share 0-1) is the only region in which the subject is looked for;
- from Python (`canvas_of`, `roi_of`), `canvas=(800, 600)` and `roi=(10, 20, 300, 400)` too: an int
  is pixels and a float a share, as `200px` and `0.25` are in the text;
- with `crop=true` and a canvas, `crop_margin` is the least free space kept around the subject.

The subject's box is taken from the full-resolution matte; the colours and the matte under the part
of the frame that lands on the canvas are resampled once (INTER_AREA to shrink; to enlarge, Lanczos
for the colours and bilinear for the matte, which must not ring)
straight onto the canvas, then composed as any cut-out is.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

import cv2
import numpy as np

from .errors import InvalidOptionError

MAX_CANVAS_SIDE = 10_000  # px: a 100 MP canvas, far beyond any training or shop size; bounds memory
SCALE_RANGE = (0.1, 1.0)  # remove.bg's 10 %-100 %
SUBJECT_THRESHOLD = 8  # alpha above this (3 %) is the subject's box, as the crop's (pipeline.subject_box)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


class Pixels(int):
    """A length in pixels (`30px`), where a float is a share (of the subject's or the frame's size)."""

    def __str__(self) -> str:
        return f"{int(self)}px"


@dataclass(frozen=True)
class Canvas:
    """The output's size in pixels (`1024x1024`)."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def pixels(self) -> int:
        return self.width * self.height


class Anchor(StrEnum):
    AUTO = "auto"  # center with a scale or a canvas, else original
    ORIGINAL = "original"  # the subject's centre at the same share of the canvas as of the frame
    CENTER = "center"


@dataclass(frozen=True)
class Point:
    """The subject's centre as shares of the canvas's width and height (`50%,30%`; `center` is
    50%,50%)."""

    x: float
    y: float

    def __str__(self) -> str:
        return f"{self.x:g},{self.y:g}"


@dataclass(frozen=True)
class Roi:
    """The region searched for the subject: x1, y1, x2, y2, each Pixels or a share of the frame."""

    corners: tuple[float, float, float, float]

    def __str__(self) -> str:
        return ",".join(str(c) if isinstance(c, Pixels) else f"{c:g}" for c in self.corners)

    def box(self, width: int, height: int) -> Box:
        """The region in pixels of a `width` x `height` frame, clamped to it."""
        sides = (width, height, width, height)
        x0, y0, x1, y1 = (
            min(side, int(c) if isinstance(c, Pixels) else round(c * side))
            for c, side in zip(self.corners, sides, strict=True)
        )
        return x0, y0, x1, y1


Position = Anchor | Point


def length(name: str, raw: str, share_cap: float = 1.0) -> float:
    """One length: `30px` (Pixels), `10%` or a share `0.1` (a float, at most `share_cap`)."""
    text = raw.strip().lower()
    if re.fullmatch(r"[0-9]+ *px", text, re.ASCII):
        return Pixels(int(text[:-2]))
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise InvalidOptionError(f"{name} must be in px, % or a share 0-1, got {raw!r}") from None
    if not 0 <= value <= share_cap or not math.isfinite(value):
        raise InvalidOptionError(f"{name} must be 0%-{share_cap:.0%} (a share 0-{share_cap:g}) or px, got {raw!r}")
    return value


def _values(raw: str) -> list[str]:
    """remove.bg separates values by spaces, our query strings by commas: both are read."""
    return [part for part in re.split(r"[\s,]+", raw.strip()) if part]


def parse_canvas(name: str, raw: str) -> Canvas | None:
    if not raw or raw.lower() == "original":
        return None
    match = re.fullmatch(r"([0-9]{1,6}) *[xX] *([0-9]{1,6})", raw.strip(), re.ASCII)
    if not match:
        raise InvalidOptionError(f"{name} must be WIDTHxHEIGHT in pixels, such as 1024x1024, got {raw!r}")
    return _canvas(name, int(match[1]), int(match[2]), repr(raw))


def _canvas(name: str, width: int, height: int, shown: str) -> Canvas:
    if not (1 <= width <= MAX_CANVAS_SIDE and 1 <= height <= MAX_CANVAS_SIDE):
        raise InvalidOptionError(f"{name} sides must be 1-{MAX_CANVAS_SIDE} px, got {shown}")
    return Canvas(width, height)


def _whole(value: object) -> TypeGuard[numbers.Integral]:
    """Whether `value` is a whole number as Python writes one (an int, a NumPy integer; not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _items(value: object) -> list[object] | None:
    """The items of a tuple, a list or an array; None for anything else (text, a number)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return list(value) if isinstance(value, tuple | list) else None


def canvas_of(name: str, value: object) -> Canvas | None:
    """The canvas as a Python caller gives it: a Canvas, text as `parse_canvas` reads it, or
    (width, height) in whole pixels, as PIL's `image.size`; each checked as the text is."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_canvas(name, value)
    if isinstance(value, Canvas):
        return _canvas(name, value.width, value.height, str(value))
    width, height = pair if (pair := _items(value)) is not None and len(pair) == 2 else (None, None)
    if not (_whole(width) and _whole(height)):
        raise InvalidOptionError(
            f"{name} must be (width, height) in whole pixels, such as (1024, 1024), or text such as "
            f"'1024x1024', got {value!r}"
        )
    return _canvas(name, int(width), int(height), repr(value))


def parse_scale(name: str, raw: str) -> float | None:
    if not raw or raw.lower() == "original":
        return None
    low, high = SCALE_RANGE
    refusal = InvalidOptionError(f"{name} must be {low:g}-{high:g} (10%-100%) or original, got {raw!r}")
    try:
        value = length(name, raw, share_cap=math.inf)
    except InvalidOptionError:
        raise refusal from None
    if isinstance(value, Pixels) or not low <= value <= high:
        raise refusal
    return value


def parse_position(name: str, raw: str) -> Position:
    lowered = raw.strip().lower()
    if lowered in {a.value for a in Anchor}:
        return Anchor(lowered)
    if not lowered:
        return Anchor.AUTO
    refusal = InvalidOptionError(
        f"{name} must be center, original, or X%,Y% of the canvas (each 0%-100% or a share 0-1), got {raw!r}"
    )
    try:
        shares = [length(name, part) for part in _values(lowered)]
    except InvalidOptionError:
        raise refusal from None
    if len(shares) not in (1, 2) or any(isinstance(s, Pixels) for s in shares):
        raise refusal
    return Point(shares[0], shares[-1])  # one value is both, as remove.bg's


def parse_roi(name: str, raw: str) -> Roi | None:
    if not raw:
        return None
    refusal = InvalidOptionError(
        f"{name} must be x1,y1,x2,y2, each in pixels (200px), a percentage (25%) or a share 0-1 (0.25), got {raw!r}"
    )
    return _roi(name, _values(raw), refusal, repr(raw))


def roi_of(name: str, value: object) -> Roi | None:
    """The region as a Python caller gives it: a Roi, text as `parse_roi` reads it, or
    (x1, y1, x2, y2) whose ints are pixels and floats shares 0-1 of the frame (as `200px` and
    `0.25` in the text), a corner given as text read as the text's; each checked as the text is."""
    if value is None or isinstance(value, Roi):
        return value
    if isinstance(value, str):
        return parse_roi(name, value)
    refusal = InvalidOptionError(
        f"{name} must be (x1, y1, x2, y2): ints in pixels, floats shares 0-1 of the frame, or corners in "
        f"text such as '200px' and '25%'; got {value!r}"
    )
    items = _items(value)
    if items is None:
        raise refusal
    return _roi(name, items, refusal, repr(value))


def _corner(name: str, value: object) -> float:
    """One corner of an roi: text as `length` reads it, an int in pixels, a float a share 0-1."""
    if isinstance(value, str):
        return length(name, value)
    if _whole(value) and int(value) >= 0:
        return Pixels(int(value))
    if isinstance(value, float | np.floating) and 0 <= value <= 1:  # (not NaN; a bool is neither)
        return float(value)
    raise InvalidOptionError(f"{name} corner {value!r} is not pixels or a share 0-1")


def _roi(name: str, parts: Sequence[object], refusal: InvalidOptionError, shown: str) -> Roi:
    """The roi of four corners (`_corner`), `refusal` raised when they are not four such."""
    if len(parts) != 4:
        raise refusal
    try:
        x0, y0, x1, y1 = (_corner(name, part) for part in parts)
    except InvalidOptionError:
        raise refusal from None
    if (type(x0) is type(x1) and x1 <= x0) or (type(y0) is type(y1) and y1 <= y0):
        raise InvalidOptionError(f"{name} must have x1 < x2 and y1 < y2, got {shown}")
    return Roi((x0, y0, x1, y1))


@dataclass(frozen=True)
class Layout:
    """The frame's pixels on the canvas: canvas point = frame point * factor + offset."""

    width: int
    height: int
    factor: float
    offset_x: float
    offset_y: float


def box_of(alpha: np.ndarray) -> Box | None:
    """The subject's box (alpha above SUBJECT_THRESHOLD), None when there is none."""
    above = cv2.threshold(alpha, SUBJECT_THRESHOLD, 255, cv2.THRESH_BINARY)[1]  # (compare reads 1x1 as a scalar)
    x, y, w, h = cv2.boundingRect(above)
    return (x, y, x + w, y + h) if w else None


def layout(
    subject: Box, frame: Box, canvas: Canvas | None, scale: float | None, position: Position, margin: float
) -> Layout:
    """Where the subject goes: `frame` is the region the canvas stands for without one (the whole
    input, or the crop box), `margin` the free space kept around the subject (Pixels, or a share
    of its placed longer side)."""
    width, height = (canvas.width, canvas.height) if canvas else (frame[2] - frame[0], frame[3] - frame[1])
    box_w, box_h = subject[2] - subject[0], subject[3] - subject[1]
    share = 1.0 if scale is None else scale
    if isinstance(margin, Pixels):
        room_w, room_h, grow = width - 2 * margin, height - 2 * margin, 1.0
    else:
        room_w, room_h, grow = width, height, 1 + 2 * margin
    fit = max(0.0, min(room_w / box_w, room_h / box_h)) / grow
    factor = min(fit, share * min(width / box_w, height / box_h)) if scale is not None else min(1.0, fit)
    if position is Anchor.ORIGINAL or (position is Anchor.AUTO and scale is None and canvas is None):
        point = Point(((subject[0] + subject[2]) / 2 - frame[0]) / (frame[2] - frame[0]),
                      ((subject[1] + subject[3]) / 2 - frame[1]) / (frame[3] - frame[1]))  # fmt: skip
    else:
        point = position if isinstance(position, Point) else Point(0.5, 0.5)
    centre_x, centre_y = (subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2
    return Layout(width, height, factor, point.x * width - centre_x * factor, point.y * height - centre_y * factor)


def place(image: np.ndarray, at: Layout, enlarge: int = cv2.INTER_LANCZOS4) -> np.ndarray:
    """`image` (HxW or HxWxC uint8) resampled once onto a new, zeroed canvas by `at`: INTER_AREA to
    shrink, `enlarge` to enlarge (a matte takes INTER_LINEAR: Lanczos rings into a halo past its box)."""
    canvas = np.zeros((at.height, at.width, *image.shape[2:]), np.uint8)
    height, width = image.shape[:2]
    # The frame's part that lands on the canvas, in frame pixels (whole pixels, so no edge is lost).
    x0 = max(0, math.floor(-at.offset_x / at.factor))
    y0 = max(0, math.floor(-at.offset_y / at.factor))
    x1 = min(width, math.ceil((at.width - at.offset_x) / at.factor))
    y1 = min(height, math.ceil((at.height - at.offset_y) / at.factor))
    u0, v0 = round(x0 * at.factor + at.offset_x), round(y0 * at.factor + at.offset_y)
    u1, v1 = round(x1 * at.factor + at.offset_x), round(y1 * at.factor + at.offset_y)
    if x1 <= x0 or y1 <= y0 or u1 <= u0 or v1 <= v0:
        return canvas
    interpolation = cv2.INTER_AREA if at.factor < 1 else enlarge
    resized = cv2.resize(image[y0:y1, x0:x1], (u1 - u0, v1 - v0), interpolation=interpolation)
    cu0, cv0, cu1, cv1 = max(0, u0), max(0, v0), min(at.width, u1), min(at.height, v1)
    canvas[cv0:cv1, cu0:cu1] = resized[cv0 - v0 : cv1 - v0, cu0 - u0 : cu1 - u0]
    return canvas
