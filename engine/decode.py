"""Bytes -> pixels: every format and mode real uploads arrive in, with clear typed errors.

Pixels come out in OpenCV's BGR order (uint8), which the model and the PNG encoder both take
without another copy. JPEG photos take OpenCV's faster decoder; everything else goes through
Pillow, which knows every mode (palette, CMYK, 16-bit, alpha) and container.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import (  # noqa: F401  (importing a plugin registers its format)
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from .errors import CorruptImageError, EmptyInputError, ImageTooLargeError, UnsupportedFormatError

# What we read: Pillow's format names and the file suffixes that announce them (JPEG also opens
# MPO). The suffixes are the ones the CLI picks up from folders, the S3 notifications filter on
# (template.yaml) and browser uploads must end in.
INPUT_FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg"),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "GIF": (".gif",),
    "BMP": (".bmp",),
    "TIFF": (".tif", ".tiff"),
}
SUPPORTED_FORMATS = tuple(INPUT_FORMATS)
INPUT_SUFFIXES = tuple(suffix for suffixes in INPUT_FORMATS.values() for suffix in suffixes)
_JPEG_EOI = b"\xff\xd9"


@dataclass(frozen=True)
class DecodedImage:
    bgr: np.ndarray  # HxWx3 uint8, orientation corrected
    alpha: np.ndarray | None  # HxW uint8 when the input carried transparency
    icc_profile: bytes | None
    format: str

    @property
    def width(self) -> int:
        return int(self.bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.bgr.shape[0])


def decode_image(data: bytes, max_megapixels: float) -> DecodedImage:
    """Decode an upload, or raise EmptyInputError / UnsupportedFormatError / CorruptImageError /
    ImageTooLargeError with a message a user can act on."""
    if not data:
        raise EmptyInputError("the input is empty (0 bytes)")
    image = _open(data)
    _check_size(image.size, max_megapixels)
    if image.format in ("JPEG", "MPO") and image.mode in ("RGB", "L") and data.rstrip(b"\0").endswith(_JPEG_EOI):
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is not None:
            return DecodedImage(bgr, None, image.info.get("icc_profile"), "JPEG")
    return _decode_with_pillow(image)


def _open(data: bytes) -> Image.Image:
    """Read the header only (lazy): format, mode and size, before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap applies
            return Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError:
        raise UnsupportedFormatError(
            f"not a supported image ({_describe(data)}); send JPEG, PNG, WebP, GIF, BMP or TIFF"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image dimensions are too large: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"the image header is corrupt: {exc}") from None


def _check_size(size: tuple[int, int], max_megapixels: float) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise CorruptImageError(f"the image has no pixels ({width}x{height})")
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} ({megapixels:.1f} MP), over the {max_megapixels:g} MP limit"
        )


def _decode_with_pillow(image: Image.Image) -> DecodedImage:
    fmt = str(image.format)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size already checked
            image.seek(0)  # animated GIF/WebP/TIFF: the first frame
            image.load()
            icc = image.info.get("icc_profile")
            image = ImageOps.exif_transpose(image)
            rgb, alpha = _to_rgb_and_alpha(image)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise CorruptImageError(f"the image data is corrupt or truncated: {exc}") from None
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return DecodedImage(bgr, alpha, icc, fmt)


def _to_rgb_and_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalise any Pillow mode to 8-bit RGB plus an optional 8-bit alpha channel."""
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        gray = _to_uint8(np.asarray(image))
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2)), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = np.ascontiguousarray(rgba[:, :, 3])
        return np.ascontiguousarray(rgba[:, :, :3]), alpha
    return np.asarray(image.convert("RGB")), None


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale 16/32-bit integer or float samples to 8 bits (never clip them to white)."""
    if values.dtype.kind == "f":
        top = float(np.nanmax(values)) if values.size else 1.0
        scale = 255.0 if top <= 1.0 else 255.0 / max(top, 1e-6)
        scaled: np.ndarray = np.clip(np.nan_to_num(values) * scale, 0, 255).astype(np.uint8)
        return scaled
    wide = values.astype(np.uint32, copy=False)
    top = int(wide.max()) if wide.size else 0
    if top <= 255:  # an 8-bit image stored in a wide mode
        return wide.astype(np.uint8)
    return (wide // 257 if top <= 65535 else wide >> 24).astype(np.uint8)


def _describe(data: bytes) -> str:
    head = data[:16]
    if head.startswith(b"%PDF"):
        return "looks like a PDF"
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"<svg")):
        return "looks like HTML/XML/SVG"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "looks like text"
    return f"{len(data)} bytes starting {head[:8].hex()}"
