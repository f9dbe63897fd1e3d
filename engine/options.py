"""What the caller asks for: output mode, format and quality, size, crop, background colour,
refinement switches.

Options travel as text (query parameters, DEFAULT_OPTIONS, Batch Operations arguments, CLI flags):
`Options.from_strings` parses it, `merged` lays text over options, `to_strings` writes it back
(`Options.from_strings(o.to_strings()) == o`), and `recipe` is the canonical text that recognises a
repeat; `recorded_recipe` is that text and the model's weights as a cut-out records it (S3: the
output's `options` metadata; the CLI: the output file's `user.bgremove.options` extended attribute,
files.py).

remove.bg's values are read too, so that its clients work unchanged (SIZE_ALIASES: size=auto,
full, 4k, hd, medium are the input's own size, regular and small are preview; format=auto is
JPEG on a background colour, else PNG; crop_margin=30px in pixels or 10%; bg_color as hex of 3 or
6 digits or a colour name such as green).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from urllib.parse import urlencode

import numpy as np
from PIL import ImageColor

from .errors import InvalidOptionError
from .formats import ALIASES, FORMATS, PNG, OutputFormat, output_format
from .placement import (
    Anchor,
    Canvas,
    Pixels,
    Point,
    Position,
    Roi,
    canvas_of,
    length,
    parse_canvas,
    parse_position,
    parse_roi,
    parse_scale,
    roi_of,
)


class OutputMode(StrEnum):
    CUTOUT = "cutout"  # the subject on transparency (RGBA), or on `background` (RGB)
    MASK = "mask"  # the alpha matte alone (8-bit gray)


class Size(StrEnum):
    FULL = "full"  # the input's own size
    PREVIEW = "preview"  # at most PREVIEW_PIXELS, cut out of a downscaled input: the fast path


PREVIEW_PIXELS = 250_000  # 0.25 MP, remove.bg's preview size
# remove.bg's sizes: preview/small/regular are 0.25 MP there too; medium (1.5 MP), hd (4 MP), full,
# 4k, 50mp and auto (the most there is) are the input's own size here (never more than it has).
SIZE_ALIASES = {"auto": Size.FULL, "4k": Size.FULL, "50mp": Size.FULL, "hd": Size.FULL, "medium": Size.FULL,
                "regular": Size.PREVIEW, "small": Size.PREVIEW}  # fmt: skip
AUTO_FORMAT = "auto"  # remove.bg's: JPEG when a background colour leaves no transparency, else PNG
MAX_MARGIN_PIXELS = 500  # remove.bg's most margin in pixels
MAX_RECORDED_RECIPE_CHARS = 512  # a longer recipe (roi=0px,0px,99...9px) is recorded by its hash
WEIGHTS_DIGEST_CHARS = 16  # of a model file's sha256 in a recorded recipe: 64 bits tell two files apart


RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Options:
    """Per-image options. Every field has a product default; `from_strings` parses user input."""

    model: str | None = None  # model id; None = the process default (ENGINE_MODEL)
    output: OutputMode = OutputMode.CUTOUT
    format: str = PNG.name  # a name in formats.FORMATS, or AUTO_FORMAT
    crop: bool = False  # crop to the subject's bounding box
    crop_margin: float | Pixels = 0.05  # margin around the crop: a share of the subject's longer side, or Pixels
    background: RGB | None = None  # flatten onto this colour (RGB; text as the CLI takes it, #ffffff, is parsed)
    refine: bool = True  # edge-aware full-resolution refinement of the matte
    soft_edges: bool = False  # matting-style edges from the photo's colours where the model is unsure
    crisp_edges: bool = False  # the firm contour everywhere (the default is soft where the photo's edge is)
    decontaminate: bool = True  # re-estimate foreground colours where alpha is partial
    compress_level: int = 1  # 0-9, 1 = fast (PNG: the zlib level; lossless WebP: the effort)
    quality: int | None = None  # 0-100 for WebP, JPEG, AVIF; None = the format's default; WebP 100 = lossless
    size: Size = Size.FULL
    canvas: Canvas | None = None  # the output's size; None = the input's (or the crop box's), placement.py
    scale: float | None = None  # the subject's longer side as a share of the canvas; None = original size
    position: Position = Anchor.AUTO  # where the subject's centre goes on the canvas
    roi: Roi | None = None  # the only region searched for the subject; None = the whole frame

    def __post_init__(self) -> None:
        for name, python_form in _PYTHON_FORMS.items():  # background="#fff", canvas=(800, 600), or text
            object.__setattr__(self, name, python_form(name, getattr(self, name)))
        chosen = self.output_format  # refuses an unknown one
        if not chosen.transparency and self.output is OutputMode.CUTOUT and self.background is None:
            raise InvalidOptionError(
                f"format {chosen.name} has no transparency: add a background colour (background=ffffff; "
                "--background '#ffffff' on the command line) or ask for output=mask (--mask), or choose png, "
                "webp or avif"
            )
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise InvalidOptionError(f"quality must be 0-100, got {self.quality}")
        if not 0 <= self.compress_level <= 9:
            raise InvalidOptionError(f"compress_level must be 0-9, got {self.compress_level}")
        if not 0 <= self.crop_margin <= (MAX_MARGIN_PIXELS if isinstance(self.crop_margin, Pixels) else 1):
            raise InvalidOptionError(
                f"crop_margin must be a share 0-1, 0%-100% or 0px-{MAX_MARGIN_PIXELS}px, got {self.crop_margin}"
            )
        if self.background is not None and (
            len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background)
        ):
            raise InvalidOptionError(f"background must be three values 0-255, got {self.background}")

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> Options:
        """Parse options given as text (CLI flags, query parameters). Unknown names are refused."""
        return cls().merged(values)

    def merged(self, overrides: Mapping[str, str]) -> Options:
        """These options with the ones named in `overrides` parsed from text; the result is checked
        as a whole (a default background lets a request ask for JPEG). InvalidOptionError if bad."""
        return replace(self, **_parse_values(overrides))  # type: ignore[arg-type]

    def to_strings(self) -> dict[str, str]:
        """Every option as the text `from_strings` reads back into these options."""
        return {f.name: _as_text(getattr(self, f.name)) for f in fields(self)}

    def recipe(self, default_model: str) -> str:
        """Canonical text of these options with the model resolved (`default_model` when unset):
        options that make the same cut-out give the same text. Stored with each cut-out."""
        return urlencode(sorted(replace(self, model=self.model or default_model).to_strings().items()))

    def recorded_recipe(self, default_model: str, model_sha256: str) -> str:
        """The recipe as a cut-out records it (S3 metadata, the CLI's extended attribute), with the
        model's weights (`weights=`, the first WEIGHTS_DIGEST_CHARS of `model_sha256`, its file's
        digest), so a model replaced under its id is a new recipe; a recipe recorded before the
        weights were matches none, so its output is made again once. When option values make it
        long, `sha256:` and its hash, which tells a repeat just as well in a bounded size (S3's
        2 KB of metadata, ext4's 4 KB of attributes)."""
        recipe = self.recipe(default_model) + "&" + urlencode({"weights": model_sha256[:WEIGHTS_DIGEST_CHARS]})
        if len(recipe) <= MAX_RECORDED_RECIPE_CHARS:
            return recipe
        return "sha256:" + hashlib.sha256(recipe.encode()).hexdigest()

    @property
    def output_format(self) -> OutputFormat:
        if self.format == AUTO_FORMAT:
            return output_format(PNG.name if self.background is None else "jpeg")
        return output_format(self.format)

    @property
    def encode_quality(self) -> int:
        """The quality the encoder is given: the option, or the format's default."""
        return self.output_format.default_quality if self.quality is None else self.quality

    @property
    def places(self) -> bool:
        """Whether the subject is placed on a canvas (placement.py) rather than cut out where it is."""
        moved = isinstance(self.position, Point) or self.position is Anchor.CENTER
        return self.canvas is not None or self.scale is not None or moved

    @property
    def max_pixels(self) -> int | None:
        """The most pixels the input is cut out at (size=preview), None for its own size."""
        return PREVIEW_PIXELS if self.size is Size.PREVIEW else None


def _parse_values(values: Mapping[str, str]) -> dict[str, object]:
    """Each named option's value parsed from text, alone (InvalidOptionError for an unknown name or
    a bad value); whether they go together is checked by the Options they make."""
    known = {f.name for f in fields(Options)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidOptionError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    parsed: dict[str, object] = {}
    for name, raw in values.items():
        if not raw.isascii():  # every value is ASCII: int() and isdigit() take other digits too
            raise InvalidOptionError(f"{name} must be plain ASCII text, got {raw!r}")
        parsed[name] = _PARSERS[name](name, raw.strip())
    return parsed


def same_value(name: str, first: str, second: str) -> bool:
    """Whether two texts of option `name` mean one value (`crop=1` and `crop=TRUE`, `format=jpg` and
    `jpeg`, `background=fff` and `#ffffff`); texts that do not parse are the same only when equal."""
    if first == second:
        return True
    try:
        return _parse_values({name: first}) == _parse_values({name: second})
    except InvalidOptionError:
        return False


def python_text(name: str, value: object) -> str:
    """Option `name` as a Python caller gives it (library keywords), as the text `from_strings` reads:
    a Python form (_PYTHON_FORMS: canvas=(800, 600)) read first, then written as `to_strings` writes it."""
    python_form = _PYTHON_FORMS.get(name)
    return _as_text(python_form(name, value) if python_form else value)


def _as_text(value: object) -> str:
    """One option's value as its parser reads it: "" for unset, true/false, r,g,b (from a tuple, a
    list or an array), enum values."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise InvalidOptionError(f"{name} must be true or false, got {raw!r}")


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidOptionError(f"{name} must be an integer, got {raw!r}") from None


def _parse_choice(kind: type[StrEnum]) -> Callable[[str, str], StrEnum]:
    """A parser of one of `kind`'s values (any case)."""

    def parse(name: str, raw: str) -> StrEnum:
        try:
            return kind(raw.lower())
        except ValueError:
            choices = ", ".join(m.value for m in kind)
            raise InvalidOptionError(f"{name} must be one of {choices}, got {raw!r}") from None

    return parse


def _parse_quality(name: str, raw: str) -> int | None:
    return _parse_int(name, raw) if raw else None


def _parse_format(name: str, raw: str) -> str:
    lowered = raw.lower()
    if lowered == "zip":
        raise InvalidOptionError("format zip (remove.bg's colour JPEG and alpha PNG) is not made here: ask for png")
    if lowered == AUTO_FORMAT:
        return lowered
    try:
        return output_format(lowered).name
    except InvalidOptionError:
        names = ", ".join([*FORMATS, *ALIASES, AUTO_FORMAT])
        raise InvalidOptionError(f"{name} must be one of {names}, got {raw!r}") from None


def _parse_size(name: str, raw: str) -> StrEnum:
    alias = SIZE_ALIASES.get(raw.lower())
    if alias is not None:
        return alias
    try:
        return _parse_choice(Size)(name, raw)
    except InvalidOptionError:
        names = ", ".join([*(m.value for m in Size), *SIZE_ALIASES])
        raise InvalidOptionError(f"{name} must be one of {names} (remove.bg's sizes), got {raw!r}") from None


def _parse_model(name: str, raw: str) -> str | None:
    if not raw:
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", raw):
        raise InvalidOptionError(f"{name} must be a model id such as u2netp-int8, got {raw!r}")
    return raw


def parse_color(raw: str) -> RGB:
    """Parse `#rrggbb`, `rrggbb`, `rgb`, `r,g,b` (ASCII digits only) or a CSS colour name (green)
    into an RGB tuple."""
    text = raw.strip().lstrip("#")
    if re.fullmatch(r"[0-9a-fA-F]{3}", text, re.ASCII):
        text = "".join(digit * 2 for digit in text)
    if re.fullmatch(r"[0-9a-fA-F]{6}", text, re.ASCII):
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    if text.lower() in ImageColor.colormap:
        red, green, blue = ImageColor.getrgb(text.lower())[:3]
        return (red, green, blue)
    decimal = re.fullmatch(r" *([0-9]{1,3}) *, *([0-9]{1,3}) *, *([0-9]{1,3}) *", text, re.ASCII)
    if decimal:
        r, g, b = (int(c) for c in decimal.groups())
        if max(r, g, b) <= 255:
            return (r, g, b)
    raise InvalidOptionError(f"background must be #rrggbb, r,g,b with values 0-255 or a colour name, got {raw!r}")


def _parse_background(name: str, raw: str) -> RGB | None:
    if not raw or raw.lower() in {"none", "transparent"}:
        return None
    return parse_color(raw)


# The options a Python caller may give in Python's own forms (tuples, lists) or as text as well as the types':
# each is read by the Options it makes, and by the library's keywords (library.options_from) before they are text.
def _background_of(name: str, value: object) -> object:
    """The background as a Python caller gives it: text as the CLI and API write it, or an (r, g, b)."""
    return _parse_background(name, value) if isinstance(value, str) else value


_PYTHON_FORMS: dict[str, Callable[[str, object], object]] = {
    "background": _background_of,
    "canvas": canvas_of,
    "roi": roi_of,
}

_PARSERS: dict[str, Callable[[str, str], object]] = {
    "model": _parse_model,
    "output": _parse_choice(OutputMode),
    "format": _parse_format,
    "crop": _parse_bool,
    "crop_margin": length,  # a share (0.1), a percentage (10%) or pixels (30px)
    "background": _parse_background,
    "refine": _parse_bool,
    "soft_edges": _parse_bool,
    "crisp_edges": _parse_bool,
    "decontaminate": _parse_bool,
    "compress_level": _parse_int,
    "quality": _parse_quality,
    "size": _parse_size,
    "canvas": parse_canvas,
    "scale": parse_scale,
    "position": parse_position,
    "roi": parse_roi,
}
