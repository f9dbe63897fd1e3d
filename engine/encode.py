"""Pixels -> encoded bytes, one function per output format (formats.py picks one by name).

PNG goes through OpenCV's encoder with a cheap filter and zlib's RLE strategy: at level 1 the `UP`
filter with RLE encodes a 2 MP cut-out about twice as fast as the default adaptive filters, and
compresses the zeroed transparent area just as well (bench/formats.py measures it). An ICC profile
is carried over as an `iCCP` chunk spliced in after `IHDR`.

WebP, JPEG and AVIF go through Pillow (libwebp, libjpeg-turbo, libavif), which writes the ICC
profile itself. WebP at quality 100 is lossless; below, the colours are lossy and the alpha plane
stays lossless (`alpha_quality` 100), so the matte is exact in every WebP. JPEG has no alpha: it
takes gray or BGR pixels only (options.py refuses JPEG for a transparent cut-out).

Pixels are HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA) uint8, as the pipeline composes them.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import AvifImagePlugin, Image, JpegImagePlugin, WebPImagePlugin, features  # noqa: F401 (registers)

from .errors import EngineError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = len(_PNG_SIGNATURE) + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
LOSSLESS = 100  # the quality that makes a WebP lossless
WEBP_METHOD = 2  # libwebp's lossy effort 0-6: 20-64 % less time than its default 4, 1-5 % more bytes
AVIF_SPEED = 8  # libavif's speed 0-10 (its default 6 is several times slower); bench/formats.py compares 10
AVIF_AVAILABLE = features.check("avif")  # Pillow's wheels carry libavif; a build without it has no AVIF


def encode_png(pixels: np.ndarray, level: int = 1, quality: int = 0, icc_profile: bytes | None = None) -> bytes:
    """Encode pixels as PNG at zlib `level` (0-9); `quality` is unused (PNG is lossless)."""
    params = [
        cv2.IMWRITE_PNG_COMPRESSION,
        level,
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_RLE if level <= 3 else cv2.IMWRITE_PNG_STRATEGY_DEFAULT,
        cv2.IMWRITE_PNG_FILTER,
        cv2.IMWRITE_PNG_FILTER_UP if level <= 3 else cv2.IMWRITE_PNG_ALL_FILTERS,
    ]
    ok, buffer = cv2.imencode(".png", pixels, params)
    if not ok:
        raise EngineError(f"PNG encoding failed for an array of shape {pixels.shape}")
    png = buffer.tobytes()
    return _with_icc(png, icc_profile) if icc_profile else png


def encode_webp(
    pixels: np.ndarray, level: int = 1, quality: int = 90, icc_profile: bytes | None = None, method: int = WEBP_METHOD
) -> bytes:
    """Encode pixels as WebP: lossless at quality 100 (compress_level 0-9 sets libwebp's effort),
    else lossy colour with a lossless alpha."""
    lossless = quality >= LOSSLESS
    return _pillow_encode(
        pixels,
        "WEBP",
        icc_profile,
        lossless=lossless,
        quality=min(100, level * 11) if lossless else quality,  # lossless: quality is the effort
        alpha_quality=100,
        method=min(6, level) if lossless else method,
        exact=False,  # transparent pixels carry no colour anyway (pipeline.to_bgra)
    )


def encode_jpeg(pixels: np.ndarray, level: int = 1, quality: int = 90, icc_profile: bytes | None = None) -> bytes:
    """Encode gray or BGR pixels as a baseline JPEG (4:2:0 below quality 90, 4:4:4 from it)."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        raise EngineError("JPEG has no transparency: flatten the cut-out onto a colour first")
    return _pillow_encode(pixels, "JPEG", icc_profile, quality=quality, subsampling=2 if quality < 90 else 0)


def encode_avif(
    pixels: np.ndarray, level: int = 1, quality: int = 60, icc_profile: bytes | None = None, speed: int = AVIF_SPEED
) -> bytes:
    """Encode pixels as AVIF (alpha kept) at `quality` 0-100 and speed AVIF_SPEED."""
    if not AVIF_AVAILABLE:
        raise EngineError("this Pillow build has no AVIF encoder")
    return _pillow_encode(pixels, "AVIF", icc_profile, quality=quality, speed=speed)


def _pillow_encode(pixels: np.ndarray, kind: str, icc_profile: bytes | None, **params: object) -> bytes:
    """Pixels (BGR order) through Pillow's encoder of `kind`, with the profile when there is one.

    Colour pixels are handed over in RGB order without a copy where they are writeable and
    C-ordered: swapped in place and swapped back once encoded (4 bytes a pixel less at the peak,
    256 MiB at 64 MP), so the caller's array is as it was."""
    if pixels.ndim == 2:
        return _pillow_save(Image.fromarray(pixels, "L"), kind, icc_profile, params)
    to_rgb = cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB  # each its own inverse
    if not (pixels.flags.c_contiguous and pixels.flags.writeable):
        return _pillow_save(Image.fromarray(cv2.cvtColor(pixels, to_rgb)), kind, icc_profile, params)
    cv2.cvtColor(pixels, to_rgb, dst=pixels)
    try:
        return _pillow_save(Image.fromarray(pixels), kind, icc_profile, params)
    finally:
        cv2.cvtColor(pixels, to_rgb, dst=pixels)


def _pillow_save(image: Image.Image, kind: str, icc_profile: bytes | None, params: dict[str, object]) -> bytes:
    out = io.BytesIO()
    if icc_profile:
        params["icc_profile"] = icc_profile
    try:
        image.save(out, kind, **params)
    except (OSError, ValueError) as exc:
        raise EngineError(f"{kind} encoding failed for an image of {image.size} {image.mode}: {exc}") from None
    return out.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _with_icc(png: bytes, icc_profile: bytes) -> bytes:
    """Insert an iCCP chunk (profile name, compression method 0, deflated profile) after IHDR."""
    iccp = _chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc_profile))
    return png[:_IHDR_END] + iccp + png[_IHDR_END:]
