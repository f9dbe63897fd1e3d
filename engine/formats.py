"""Output formats: how a cut-out is written. Each format owns its encoder, its file suffix, its
media type, its default quality and whether it can carry transparency; the pipeline encodes
through it, and the CLI's file names, the handler's output keys, the S3 object's Content-Type and
the HTTP reply take their suffix and media type from it.

Adding a format is an encoder (encode.py) and one entry in FORMATS: the `format` option accepts
every name here (and ALIASES), so the API (`?format=` or `Accept: image/webp`), DEFAULT_OPTIONS,
Batch Operations arguments and the CLI (`--format`) offer it at once.

Defaults are chosen by bench/formats.py (bench/results/formats.md): PNG stays the default format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .encode import AVIF_AVAILABLE, FAST_PNG_LEVEL, LOSSLESS, encode_avif, encode_jpeg, encode_png, encode_webp
from .errors import ImageTooLargeError, InvalidOptionError
from .layers import Layers


class Encoder(Protocol):
    """HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA) uint8 pixels or a cut-out's Layers, the
    compress_level option (0-9), the quality (0-100), the input's ICC profile (or None), the
    threads it may use -> the encoded file."""

    def __call__(
        self, pixels: np.ndarray | Layers, level: int, quality: int, icc_profile: bytes | None, *, threads: int = 1
    ) -> bytes: ...


PNG_NAME = "png"  # the default format, and the one a too-large cut-out in another is pointed to


@dataclass(frozen=True)
class OutputFormat:
    """One way to write a cut-out."""

    name: str  # the value of the `format` option
    suffix: str  # of output files (engine/files.py: photo.jpg -> photo.png) and S3 keys (photo.jpg.png)
    media_type: str  # Content-Type of the stored object and of the HTTP reply
    encode: Encoder
    default_quality: int = LOSSLESS  # the `quality` option's value when unset (lossless formats ignore it)
    transparency: bool = True  # whether it can carry an alpha channel
    # Memory the encoder takes beyond the output pixels and the file (engine/memory.py), bytes per
    # pixel: Pillow's RGB(A) copy and the codec's own pictures. Peak RSS over the pixels, measured
    # on 2 and 12 MP cut-outs: PNG ~1 (its output buffer), JPEG 7.6, WebP 26-30 (lossy and
    # lossless alike), AVIF 31-39 at 2 MP with the fixed part (SLACK_MB covers that).
    encoder_bytes_per_pixel: int = 0
    # The compress levels up to which the encoder reads a cut-out's Layers as they are (the fast PNG
    # writer); above, or in another format, the pipeline stacks them into one BGRA array first
    layers_up_to_level: int = -1
    # The codec's longest side in pixels (libwebp 16383, libjpeg 65500, AV1 65536, OpenCV's libpng 1000000).
    max_side: int = 2**31 - 1

    def takes_layers(self, level: int) -> bool:
        """Whether the encoder, at compress `level`, reads a cut-out's Layers without their BGRA stack."""
        return level <= self.layers_up_to_level

    def check_size(self, width: int, height: int) -> None:
        """ImageTooLargeError (an input error: that image fails alone) when the codec cannot write
        an image of this size, instead of its encoder failing as a broken deployment would."""
        if max(width, height) > self.max_side:
            other = "" if self.name == PNG_NAME else "write it as png, or "
            raise ImageTooLargeError(
                f"the cut-out is {width}x{height} px: {self.name} images have at most {self.max_side} px "
                f"a side; {other}crop it or place it on a smaller canvas"
            )


# libpng's default user limit, which its readers (and OpenCV's writer, at levels 4-9) keep: at most
# 1,000,000 px a side.
PNG = OutputFormat(PNG_NAME, ".png", "image/png", encode_png, layers_up_to_level=FAST_PNG_LEVEL, max_side=1_000_000)
WEBP = OutputFormat("webp", ".webp", "image/webp", encode_webp, 90, encoder_bytes_per_pixel=30, max_side=16383)
JPEG = OutputFormat(
    "jpeg", ".jpg", "image/jpeg", encode_jpeg, 90, transparency=False, encoder_bytes_per_pixel=8, max_side=65500
)
AVIF = OutputFormat("avif", ".avif", "image/avif", encode_avif, 60, encoder_bytes_per_pixel=34, max_side=65536)
FORMATS: dict[str, OutputFormat] = {f.name: f for f in (PNG, WEBP, JPEG, AVIF) if f is not AVIF or AVIF_AVAILABLE}
ALIASES = {"jpg": "jpeg"}  # remove.bg's spelling


def output_format(name: str) -> OutputFormat:
    """The format called `name` (or an alias), or InvalidOptionError naming the ones there are."""
    try:
        return FORMATS[ALIASES.get(name, name)]
    except KeyError:
        raise InvalidOptionError(f"format must be one of {', '.join(FORMATS)}, got {name!r}") from None


def by_media_type(media_type: str) -> OutputFormat | None:
    """The format whose media type this is (`image/webp` -> WEBP), or None."""
    return next((f for f in FORMATS.values() if f.media_type == media_type.strip().lower()), None)
