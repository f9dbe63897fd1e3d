"""Output formats: how a cut-out is written. Each format owns its encoder, its file suffix and its
media type; the pipeline encodes through it, and the CLI's file names, the handler's output keys
and the HTTP reply take their suffix and media type from it.

Adding a format is an encoder (encode.py) and one entry in FORMATS: the `format` option accepts
every name here, so the API (`?format=`), DEFAULT_OPTIONS, Batch Operations arguments and the CLI
(`--format`) offer it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .encode import encode_png
from .errors import InvalidOptionError

# HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA) uint8 pixels, the compress_level option (0-9), the
# input's ICC profile (or None) -> the encoded file.
Encoder = Callable[[np.ndarray, int, bytes | None], bytes]


@dataclass(frozen=True)
class OutputFormat:
    """One way to write a cut-out."""

    name: str  # the value of the `format` option
    suffix: str  # appended whole to output names: photo.jpg -> photo.jpg.png
    media_type: str  # Content-Type of the stored object and of the HTTP reply
    encode: Encoder


PNG = OutputFormat("png", ".png", "image/png", encode_png)
FORMATS: dict[str, OutputFormat] = {f.name: f for f in (PNG,)}


def output_format(name: str) -> OutputFormat:
    """The format called `name`, or InvalidOptionError naming the ones there are."""
    try:
        return FORMATS[name]
    except KeyError:
        raise InvalidOptionError(f"format must be one of {', '.join(FORMATS)}, got {name!r}") from None
