"""Pixels -> encoded bytes, one function per output format (formats.py picks one by name).

PNG at levels 0-3 (the default is 1) goes through our own writer (png.py): the `UP` filter with
zlib's RLE strategy, which encodes a 2 MP cut-out about twice as fast as libpng's adaptive filters
and compresses the zeroed transparent area just as well, deflated in bands on the engine's threads.
Levels 4-9 ask for a smaller file and go through OpenCV's libpng with the adaptive filters; there an
ICC profile is spliced in as an `iCCP` chunk after `IHDR` (bench/formats.py measures them all).

WebP, JPEG and AVIF go through Pillow (libwebp, libjpeg-turbo, libavif), which writes the ICC
profile itself. WebP at quality 100 is lossless; below, the colours are lossy and the alpha plane
stays lossless (`alpha_quality` 100), so the matte is exact in every WebP. JPEG has no alpha: it
takes gray or BGR pixels only (options.py refuses JPEG for a transparent cut-out).

Pixels are HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA) uint8, as the pipeline composes them, or a
transparent cut-out's Layers, which the fast PNG writer reads as they are and the others stack.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import AvifImagePlugin, Image, JpegImagePlugin, WebPImagePlugin, features  # noqa: F401 (registers)

from .errors import EngineError
from .layers import Layers, as_array
from .png import SIGNATURE, iccp_chunk, write_png

_IHDR_END = len(SIGNATURE) + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
FAST_PNG_LEVEL = 3  # PNG levels up to this one take the fast filter and strategy, and threads
LOSSLESS = 100  # the quality that makes a WebP lossless
WEBP_METHOD = 2  # libwebp's lossy effort 0-6: 20-64 % less time than its default 4, 1-5 % more bytes
AVIF_SPEED = 8  # libavif's speed 0-10 (its default 6 is several times slower); bench/formats.py compares 10
AVIF_AVAILABLE = features.check("avif")  # Pillow's wheels carry libavif; a build without it has no AVIF


def encode_png(
    pixels: np.ndarray | Layers, level: int = 1, quality: int = 0, icc_profile: bytes | None = None, *, threads: int = 1
) -> bytes:
    """Encode pixels as PNG at zlib `level` (0-9), on up to `threads` threads at levels 0-3;
    `quality` is unused (PNG is lossless)."""
    if level <= FAST_PNG_LEVEL:
        return write_png(pixels, level, threads, icc_profile)
    pixels = as_array(pixels)
    params = [cv2.IMWRITE_PNG_COMPRESSION, level, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_ALL_FILTERS]
    ok, buffer = cv2.imencode(".png", pixels, params)
    if not ok:
        raise EngineError(f"PNG encoding failed for an array of shape {pixels.shape}")
    png = buffer.tobytes()
    return _with_icc(png, icc_profile) if icc_profile else png


def encode_webp(
    pixels: np.ndarray | Layers,
    level: int = 1,
    quality: int = 90,
    icc_profile: bytes | None = None,
    method: int = WEBP_METHOD,
    *,
    threads: int = 1,
) -> bytes:
    """Encode pixels as WebP: lossless at quality 100 (compress_level 0-9 sets libwebp's effort),
    else lossy colour with a lossless alpha. One thread: Pillow does not pass libwebp's threading on."""
    lossless = quality >= LOSSLESS
    return _pillow_encode(
        as_array(pixels),
        "WEBP",
        icc_profile,
        lossless=lossless,
        quality=min(100, level * 11) if lossless else quality,  # lossless: quality is the effort
        alpha_quality=100,
        method=min(6, level) if lossless else method,
        exact=False,  # transparent pixels carry no colour anyway (layers.py)
    )


def encode_jpeg(
    pixels: np.ndarray | Layers,
    level: int = 1,
    quality: int = 90,
    icc_profile: bytes | None = None,
    *,
    threads: int = 1,
) -> bytes:
    """Encode gray or BGR pixels as a baseline JPEG (4:2:0 below quality 90, 4:4:4 from it), on
    one thread (libjpeg has no other)."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        raise EngineError("JPEG has no transparency: flatten the cut-out onto a colour first")
    return _pillow_encode(as_array(pixels), "JPEG", icc_profile, quality=quality, subsampling=2 if quality < 90 else 0)


def encode_avif(
    pixels: np.ndarray | Layers,
    level: int = 1,
    quality: int = 60,
    icc_profile: bytes | None = None,
    speed: int = AVIF_SPEED,
    *,
    threads: int = 1,
) -> bytes:
    """Encode pixels as AVIF (alpha kept) at `quality` 0-100 and speed AVIF_SPEED, on up to
    `threads` threads (Pillow's default would take every CPU the process may run on)."""
    if not AVIF_AVAILABLE:
        raise EngineError("this Pillow build has no AVIF encoder")
    return _pillow_encode(as_array(pixels), "AVIF", icc_profile, quality=quality, speed=speed, max_threads=threads)


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


def _with_icc(png: bytes, icc_profile: bytes) -> bytes:
    """Insert an iCCP chunk (profile name, compression method 0, deflated profile) after IHDR."""
    return png[:_IHDR_END] + iccp_chunk(icc_profile) + png[_IHDR_END:]
