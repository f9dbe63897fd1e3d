"""The bad-input corpus, generated (never hand-picked files; used by the tests and `make soak`):
each case is the bytes a user might upload, under an awkward key, with the outcome the service
must give it."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from local.samples import SAMPLES_DIR


@dataclass(frozen=True)
class Case:
    key: str  # relative to the input prefix
    data: bytes
    reason: str | None  # the failure record's reason, or None when a cut-out is expected
    size: tuple[int, int] | None = None  # the cut-out's (width, height), when one is expected


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _photo(size: tuple[int, int] = (160, 120)) -> Image.Image:
    with Image.open(SAMPLES_DIR / "coffee.jpg") as image:
        return image.convert("RGB").resize(size)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header announcing 10^10 pixels, with almost no data: a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return _encode(_photo((160, 120)), "JPEG", exif=exif.tobytes())


def _animated(fmt: str) -> bytes:
    frames = [_photo((96, 64)), Image.new("RGB", (96, 64), (255, 0, 0))]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _palette_with_transparency() -> bytes:
    image = _photo((120, 90)).quantize(16)
    return _encode(image, "PNG", transparency=0)


def _with_alpha() -> bytes:
    image = _photo((120, 90)).convert("RGBA")
    alpha = np.full((90, 120), 255, np.uint8)
    alpha[:, :30] = 0  # the left quarter is already transparent
    image.putalpha(Image.fromarray(alpha))
    return _encode(image, "PNG")


def _sixteen_bit() -> bytes:
    gradient = (np.linspace(0, 65535, 128 * 96).reshape(96, 128)).astype(np.uint16)
    return _encode(Image.fromarray(gradient), "PNG")


def corpus() -> list[Case]:
    jpeg, png, webp = (_encode(_photo(), fmt) for fmt in ("JPEG", "PNG", "WEBP"))
    return [
        Case("bad/empty.jpg", b"", "empty_input"),
        Case("bad/truncated.jpg", jpeg[: len(jpeg) // 2], "corrupt_image"),
        Case("bad/truncated.png", png[: len(png) // 2], "corrupt_image"),
        Case("bad/truncated.webp", webp[: len(webp) // 2], "corrupt_image"),
        Case("bad/notes.jpg", b"these are my holiday notes, not a photo\n" * 20, "unsupported_format"),
        Case("bad/invoice.jpg", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "unsupported_format"),
        Case("bad/page.jpg", b"<!DOCTYPE html><html><body><img src=x></body></html>", "unsupported_format"),
        Case("bad/bomb.png", png_bomb(), "image_too_large"),
        Case("odd/one pixel.png", _encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), None, (1, 1)),
        Case("odd/strip 20000x10.png", _encode(Image.new("RGB", (20000, 10), (90, 90, 200)), "PNG"), None, (20000, 10)),
        Case("odd/16-bit.png", _sixteen_bit(), None, (128, 96)),
        Case("odd/cmyk+print.jpg", _encode(_photo().convert("CMYK"), "JPEG"), None, (160, 120)),
        Case("odd/palette transparent.png", _palette_with_transparency(), None, (120, 90)),
        Case("odd/animated.gif", _animated("GIF"), None, (96, 64)),
        Case("odd/animated.webp", _animated("WEBP"), None, (96, 64)),
        Case("odd/exif rotated.jpg", _exif_rotated(), None, (120, 160)),
        Case("odd/already transparent.png", _with_alpha(), None, (120, 90)),
        Case("deep/a/b/c/d/e/f/g/h/café ☕ über.jpg", jpeg, None, (160, 120)),
        Case("same/photo.jpg", jpeg, None, (160, 120)),  # these two would share "photo.png"
        Case("same/photo.png", png, None, (160, 120)),
    ]
