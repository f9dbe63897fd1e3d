"""Pixels -> PNG bytes, fast: OpenCV's encoder with a cheap filter and zlib's RLE strategy.

At level 1 the `UP` filter with RLE encodes a 2 MP cut-out about twice as fast as the default
adaptive filters, and compresses the zeroed transparent area just as well. An ICC profile is
carried over as an `iCCP` chunk spliced in after `IHDR`.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from .errors import EngineError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = len(_PNG_SIGNATURE) + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC


def encode_png(pixels: np.ndarray, level: int = 1, icc_profile: bytes | None = None) -> bytes:
    """Encode HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA) uint8 pixels as PNG."""
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


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _with_icc(png: bytes, icc_profile: bytes) -> bytes:
    """Insert an iCCP chunk (profile name, compression method 0, deflated profile) after IHDR."""
    iccp = _chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc_profile))
    return png[:_IHDR_END] + iccp + png[_IHDR_END:]
