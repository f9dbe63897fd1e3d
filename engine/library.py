"""The Python entry point, in rembg's style: `remove(data, **options) -> bytes`, and `cut_out` for the
whole `Cutout` (timings, findings, size).

The photo is its encoded bytes (or any bytes-like object), a path, or a binary file. Options are
keyword arguments with the engine option names of the HTTP API and `DEFAULT_OPTIONS`
(`background="#ffffff"`, `format="webp"`, `output="mask"`, `crop_margin=0.1`, `soft_edges=True`;
docs/api.md, Options): each value is turned into text and parsed by `Options.from_strings`, the one
parser of every entry point, so an unknown name or a bad value raises the same `InvalidOptionError`
with the same message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from .options import Options, _as_text
from .pipeline import remove_background
from .result import Cutout

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO


def read_source(source: Source) -> bytes:
    """The encoded image of `source`: bytes-like as they are, a path's file, a binary file's rest."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        return Path(source).read_bytes()
    data = source.read() if hasattr(source, "read") else None
    if isinstance(data, bytes):
        return data
    raise TypeError(
        f"pass encoded image bytes, a path or a binary file, not {type(source).__module__}.{type(source).__name__}"
        " (an array or a PIL image: encode it first, e.g. cv2.imencode('.png', array)[1].tobytes())"
    )


def options_from(values: dict[str, object]) -> Options:
    """Keyword options (text, bool, int, float, an (r, g, b) tuple, None for unset) as `Options`."""
    return Options.from_strings({name: _as_text(value) for name, value in values.items() if value is not None})


def cut_out(source: Source, **options: object) -> Cutout:
    """Cut the subject out of a photo (`Source`): the encoded result with its size, timings and findings."""
    return remove_background(read_source(source), options_from(options))


def remove(source: Source, **options: object) -> bytes:
    """Cut the subject out of a photo (`Source`) and return the encoded cut-out (PNG unless `format=`)."""
    return cut_out(source, **options).data
