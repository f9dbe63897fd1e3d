"""Bytes -> pixels: every format and mode real uploads arrive in, with clear typed errors.

Pixels come out in OpenCV's BGR order (uint8), which the model and the PNG encoder both take
without another copy. JPEG photos take OpenCV's faster decoder; everything else goes through
Pillow, which knows every mode (palette, CMYK, 16-bit, alpha) and container: phones' HEIC/HEIF
through pi-heif's opener (libheif, decoding only), AVIF through Pillow's own plugin (libavif).
EXIF orientation is applied in every format (HEIF's rotation by libheif, which then clears the tag).

With `max_pixels` (size=preview) the image comes out downscaled to fit: a JPEG is decoded at 1/2,
1/4 or 1/8 scale by libjpeg itself (IMREAD_REDUCED_*, no full-size pixels), other formats are
decoded whole and then reduced.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from struct import error as struct_error
from typing import NoReturn

import cv2
import numpy as np
from PIL import (  # noqa: F401  (importing a plugin registers its format)
    AvifImagePlugin,
    BmpImagePlugin,
    ExifTags,
    GifImagePlugin,
    Image,
    ImageCms,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from .errors import CorruptImageError, EmptyInputError, ImageTooLargeError, UnsupportedFormatError
from .heif import damaged_item
from .profiles import Conversion, conversion

# What we read: Pillow's format names and the file suffixes that announce them (JPEG also opens
# MPO). The suffixes are the ones the CLI picks up from folders, the S3 notifications filter on
# (template.yaml) and browser uploads must end in.
# The one list: the API's /uploads and the page, the CLI and template.yaml's S3 event rule take it
# from here (tests/unit/test_template.py keeps the rule equal to it).
INPUT_FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "HEIF": (".heic", ".heif"),
    "AVIF": (".avif",),
    "GIF": (".gif",),
    "BMP": (".bmp",),
    "TIFF": (".tif", ".tiff"),
}
SUPPORTED_FORMATS = tuple(INPUT_FORMATS)
_NOT_HEIF = tuple(f for f in SUPPORTED_FORMATS if f != "HEIF")
INPUT_SUFFIXES = tuple(suffix for suffixes in INPUT_FORMATS.values() for suffix in suffixes)
READABLE = "JPEG, PNG, WebP, HEIC/HEIF, AVIF, GIF, BMP or TIFF"  # INPUT_FORMATS, as a user names them
# Image files people keep beside their photos that we do not read (JPEG XL and 2000, camera raw,
# Photoshop, SVG): the CLI lists them instead of passing over them in silence.
UNREADABLE_SUFFIXES = (".jxl", ".jp2", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".psd", ".svg")
_REDUCED_JPEG = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
_JPEG_EOI = b"\xff\xd9"
_XMP_INFO_KEYS = ("XML:com.adobe.xmp", "xmp")  # where Pillow's plugins keep a file's XMP packet
_TURNED = frozenset((5, 6, 7, 8))  # EXIF orientations that swap width and height
_BAND_PIXELS = 1 << 18  # pixels converted per step from Pillow's image to ours (bounds the temporaries)
_HEVC_BRANDS = frozenset((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"))  # HEIF's ftyp brands
_GENERIC_BRANDS = frozenset((b"mif1", b"msf1"))  # any HEIF-family file, AVIF too: HEIF only as the major brand
# What Pillow's TIFF plugin says of a sound file whose samples it has no mode for (float RGB, 64-bit
# float gray): a file we do not read, not a broken one.
_UNREAD_LAYOUTS = frozenset(("unknown pixel mode",))
# What Pillow's plugins raise for a file whose data is broken (a TIFF tag of the wrong type gives a
# TypeError, a missing one a KeyError; libheif and libavif raise RuntimeError): each one a corrupt image.
_PILLOW_CORRUPT = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, RuntimeError, struct_error
)  # fmt: skip
# `warnings.catch_warnings` swaps the process's one list of filters: entered by two threads at once,
# the second to leave puts back the list the first had changed (its ignore filter, for good).
_FILTERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class DecodedImage:
    bgr: np.ndarray  # HxWx3 uint8, orientation corrected
    alpha: np.ndarray | None  # HxW uint8 when the input carried transparency
    icc_profile: bytes | None  # an RGB profile the colours are in (profiles.py); None: sRGB
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
    return decode_opened(open_image(data, max_megapixels), data)


def open_image(data: bytes, max_megapixels: float) -> Image.Image:
    """The image's header (format, mode, size; no pixel decoded yet), or the errors of decode_image."""
    if not data:
        raise EmptyInputError("the input is empty (0 bytes)")
    try:
        image = _open(data)
    except Image.DecompressionBombError:  # over Pillow's own cap (179 MP) too: our message all the same
        bomb_megapixels = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        size = _header_size(data)
        if size is None:  # the plugin itself refused to describe it: over twice Pillow's cap
            raise ImageTooLargeError(
                f"image is over {bomb_megapixels:.0f} MP, over the {max_megapixels:g} MP limit"
            ) from None
        _refuse_size(size, min(max_megapixels, bomb_megapixels))
    _check_size(image.size, max_megapixels)
    return image


def has_more_frames(image: Image.Image) -> bool:
    """Whether an opened image holds more than one frame (animated GIF, WebP or PNG, multi-page
    TIFF), of which only the first is cut out; an MPO's second image (a phone's depth map or
    preview) is not a frame of the photo. A frame after the first that cannot even be counted (a
    TIFF's next-page offset past its end) is one more that was not cut out: True."""
    if image.format == "MPO":
        return False
    try:
        return int(getattr(image, "n_frames", 1)) > 1
    except _PILLOW_CORRUPT:
        return True


def decodes_with_opencv(image: Image.Image, data: bytes) -> bool:
    """Whether `decode_opened` takes OpenCV's faster JPEG decoder for this image (else Pillow)."""
    return image.format in ("JPEG", "MPO") and image.mode in ("RGB", "L") and data.rstrip(b"\0").endswith(_JPEG_EOI)


def decode_opened(image: Image.Image, data: bytes, max_pixels: int | None = None) -> DecodedImage:
    """The pixels of an image opened by `open_image` from `data`, reduced to at most `max_pixels`."""
    colours = conversion(image.info.get("icc_profile"), image.mode)  # a gray or CMYK profile: to sRGB
    if decodes_with_opencv(image, data):
        flag = _jpeg_flag(image.size, max_pixels)
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        if bgr is not None:
            return reduced(DecodedImage(_graded(bgr, colours), None, colours.keep, "JPEG"), max_pixels)
    return reduced(_decode_with_pillow(image, colours), max_pixels)


def _jpeg_flag(size: tuple[int, int], max_pixels: int | None) -> int:
    """OpenCV's flag for the smallest DCT scale (1/8, 1/4, 1/2) still holding `max_pixels` pixels."""
    if max_pixels is not None:
        for factor, flag in _REDUCED_JPEG:
            if (size[0] // factor) * (size[1] // factor) >= max_pixels:
                return flag
    return cv2.IMREAD_COLOR


def fitted_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size of this aspect ratio with at most `max_pixels` pixels (at least 1x1)."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def reduced(image: DecodedImage, max_pixels: int | None) -> DecodedImage:
    """The image downscaled (area averaging) to at most `max_pixels` pixels; itself when it fits."""
    if max_pixels is None or image.width * image.height <= max_pixels:
        return image
    size = fitted_size(image.width, image.height, max_pixels)
    bgr = cv2.resize(image.bgr, size, interpolation=cv2.INTER_AREA)
    alpha = None if image.alpha is None else cv2.resize(image.alpha, size, interpolation=cv2.INTER_AREA)
    return DecodedImage(bgr, alpha, image.icc_profile, image.format)


def _graded(bgr: np.ndarray, colours: Conversion) -> np.ndarray:
    """A gray image's BGR through its profile's tone curve to sRGB, in place."""
    if colours.gray_lut is not None:
        cv2.LUT(bgr, colours.gray_lut, dst=bgr)
    return bgr


def is_heif(data: bytes) -> bool:
    """Whether the bytes start an ISO BMFF file of HEVC-coded HEIF (by its major or a compatible
    brand), not AVIF."""
    if data[4:8] != b"ftyp":
        return False
    end = min(int.from_bytes(data[:4], "big"), 64)
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    major = data[8:12]
    return major in _HEVC_BRANDS | _GENERIC_BRANDS or not compatible.isdisjoint(_HEVC_BRANDS)


@lru_cache(maxsize=1)
def _register_heif() -> None:
    """pi-heif's opener, registered on the first HEIF seen: importing it costs every cold start
    about 0.1 s, which only phones' photos need. It reads the primary image alone: thumbnails, depth
    maps and auxiliary images are never used, so libheif is not asked to parse them."""
    from pi_heif import register_heif_opener  # noqa: PLC0415 - on demand, see above

    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def _open(data: bytes) -> Image.Image:
    """Read the header only (lazy): format, mode and size, before any pixel is decoded."""
    heif = is_heif(data)
    if heif:
        if damaged := damaged_item(data):  # before libheif, which this would kill (heif.py)
            raise CorruptImageError(f"the HEIF file is corrupt: {damaged}")
        _register_heif()
    formats = SUPPORTED_FORMATS if heif else _NOT_HEIF  # (Pillow fails on a format it does not know yet)
    try:
        with _bomb_warning_ignored():  # our own cap applies
            return Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError:
        signed = signature_of(data)
        if signed and _plugin_refusal(data) in _UNREAD_LAYOUTS:  # a sound file, in a layout Pillow has no mode for
            raise UnsupportedFormatError(
                f"a {signed} whose pixel layout is not read (32-bit float colour, for one); "
                "save it with 8 or 16 bits per channel"
            ) from None
        if signed:  # it says it is one of ours, but no plugin could read its header
            raise CorruptImageError(f"a {signed} whose header is corrupt or cut short") from None
        raise UnsupportedFormatError(f"not a supported image ({_describe(data)}); send {READABLE}") from None
    except (OSError, SyntaxError, ValueError, RuntimeError) as exc:  # libheif and libavif raise RuntimeError
        raise CorruptImageError(f"the image header is corrupt: {exc}") from None


@contextmanager
def _bomb_warning_ignored(size: tuple[int, int] | None = None) -> Iterator[None]:
    """Pillow's DecompressionBombWarning ignored, one thread at a time (_FILTERS_LOCK), and only where
    Pillow could warn: any header (`size` None, not read yet), or an image over its MAX_IMAGE_PIXELS,
    so that threads decoding images under it (every one the default 64 MP cap takes) never wait."""
    cap = Image.MAX_IMAGE_PIXELS
    if size is not None and (cap is None or size[0] * size[1] <= cap):
        yield
        return
    with _FILTERS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _plugins_for(data: bytes) -> Iterator[tuple[str, Callable[..., Image.Image]]]:
    """(format, its Pillow plugin's opener) of each registered supported format whose signature
    check (the plugin's own, on the first bytes) takes `data`."""
    for name in SUPPORTED_FORMATS:
        factory, accept = Image.OPEN.get(name, (None, None))
        if factory is not None and (accept is None or accept(data[:16])):
            yield name, factory


def _plugin_refusal(data: bytes) -> str | None:
    """What the first plugin whose signature `data` has says when asked to open it, or None."""
    for _, factory in _plugins_for(data):
        try:
            factory(io.BytesIO(data), "")
        except _PILLOW_CORRUPT as exc:
            return str(exc)
        return None
    return None


def signature_of(data: bytes) -> str | None:
    """The supported format whose signature `data` starts with, or None."""
    return next((name for name, _ in _plugins_for(data)), None)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """The size in the header of an image that Image.open refused as a decompression bomb, read by
    its format's plugin directly (the check is Image.open's, not the plugins'); None when the
    plugin checks a frame itself while reading the header (GIF) and refuses it too."""
    for _, factory in _plugins_for(data):
        try:
            return factory(io.BytesIO(data), "").size
        except Image.DecompressionBombError:
            return None
        except (OSError, SyntaxError, ValueError):
            continue
    raise ImageTooLargeError("the image's dimensions are too large to read")


def _check_size(size: tuple[int, int], max_megapixels: float) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise CorruptImageError(f"the image has no pixels ({width}x{height})")
    if width * height / 1e6 > max_megapixels:
        _refuse_size(size, max_megapixels)


def _refuse_size(size: tuple[int, int], max_megapixels: float) -> NoReturn:
    width, height = size
    raise ImageTooLargeError(
        f"image is {width}x{height} ({width * height / 1e6:.1f} MP), over the {max_megapixels:g} MP limit"
    )


def _decode_with_pillow(image: Image.Image, colours: Conversion) -> DecodedImage:
    fmt = str(image.format)
    try:
        with _bomb_warning_ignored(image.size):  # size already checked
            image.seek(0)  # animated GIF/WebP/TIFF: the first frame
            image.load()
            apply_exif_orientation(image)
            bgr, alpha = _to_bgr_and_alpha(image, colours.cmyk)
    except (*_PILLOW_CORRUPT, ImageCms.PyCMSError) as exc:
        raise CorruptImageError(f"the image data is corrupt or truncated: {exc}") from None
    return DecodedImage(_graded(bgr, colours), alpha, colours.keep, fmt)


def apply_exif_orientation(image: Image.Image) -> None:
    """Turn the image upright by its EXIF (or TIFF) orientation tag, in place. An orientation that
    only its XMP names is not applied: browsers show such a photo as stored, and so does OpenCV's
    JPEG path; Pillow would read it from the XMP when EXIF has none."""
    with _xmp_aside(image):
        ImageOps.exif_transpose(image, in_place=True)  # (not in place it copies even unrotated images)


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the pixels `decode_opened` gives (without `max_pixels`) an image opened by
    `open_image`, from its header: its size, turned by the orientation `apply_exif_orientation`
    applies (OpenCV's JPEG decoder applies the same EXIF tag; HEIF comes out of libheif turned)."""
    with _xmp_aside(image):
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    width, height = image.size
    return (height, width) if orientation in _TURNED else (width, height)


@contextmanager
def _xmp_aside(image: Image.Image) -> Iterator[None]:
    """The image's XMP packets out of its info while Pillow reads its orientation (and caches what
    it read), so that only the EXIF tag counts."""
    xmp = {key: image.info.pop(key) for key in _XMP_INFO_KEYS if key in image.info}
    try:
        yield
    finally:
        image.info.update(xmp)


def _to_bgr_and_alpha(
    image: Image.Image, cmyk: ImageCms.ImageCmsTransform | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalise any Pillow mode to 8-bit BGR plus an optional 8-bit alpha channel, a band of rows
    at a time: besides Pillow's own image only the results are full size (no RGBA, 16-bit or
    float copy of the whole frame). A CMYK image goes through `cmyk`, its profile's transform."""
    width, height = image.size
    mode = image.mode
    wide = mode in ("I", "F") or mode.startswith("I;16")
    key = image.info.get("transparency") if wide else None
    transparent = key if isinstance(key, int) else None  # a 16-bit PNG's tRNS: one transparent gray sample
    has_alpha = transparent is not None or (
        not wide
        and (mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in image.info))
    )
    bgr = np.empty((height, width, 3), np.uint8)
    alpha = np.empty((height, width), np.uint8) if has_alpha else None
    top = _wide_top(image) if wide else 0.0
    step = max(1, _BAND_PIXELS // width)
    for y0 in range(0, height, step):
        band = image.crop((0, y0, width, min(height, y0 + step)))
        rows = slice(y0, y0 + band.height)
        if wide:
            samples = np.asarray(band)
            cv2.cvtColor(_to_uint8(samples, top), cv2.COLOR_GRAY2BGR, dst=bgr[rows])
            if alpha is not None and transparent is not None:
                alpha[rows] = np.not_equal(samples, transparent).view(np.uint8) * np.uint8(255)
        elif alpha is not None:
            rgba = np.asarray(band.convert("RGBA"))
            cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR, dst=bgr[rows])
            alpha[rows] = rgba[:, :, 3]
        else:
            rgb = ImageCms.applyTransform(band, cmyk) if cmyk is not None else band.convert("RGB")
            cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR, dst=bgr[rows])
    return bgr, alpha


def _wide_top(image: Image.Image) -> float:
    """The largest sample of a 16/32-bit integer or float image (NaN ignored), which sets its scale."""
    if image.mode.startswith("I;16"):  # scaled by 257 whatever their top; Pillow has no extrema of I;16B
        return 65535.0
    top = float(image.getextrema()[1])  # type: ignore[arg-type]
    if not math.isnan(top):
        return top
    width, height = image.size  # a NaN came first: look at every band
    step = max(1, _BAND_PIXELS // width)
    bands = (np.asarray(image.crop((0, y, width, min(height, y + step)))) for y in range(0, height, step))
    return float(max((np.nanmax(b) if not np.isnan(b).all() else -math.inf for b in bands), default=0.0))


def _to_uint8(values: np.ndarray, top: float) -> np.ndarray:
    """Scale 16/32-bit integer or float samples, whose largest is `top`, to 8 bits (never clip them
    to white): floats up to 1.0 are taken as 0..1, larger ones scaled by their top; 16-bit samples
    (the I;16 modes of 16-bit PNG and TIFF) are 0..65535 whatever their top, divided by 257 and
    rounded; 32-bit integers up to 255 are kept, up to 65535 taken as 16-bit, larger ones shifted
    down by 24 bits."""
    if values.dtype.kind == "f":
        scale = 255.0 if top <= 1.0 else 255.0 / max(top, 1e-6)
        scaled = np.nan_to_num(values)  # a band's copy: Pillow's view is read-only
        scaled *= scale
        narrow: np.ndarray = np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
        return narrow
    values = np.clip(values, 0, None) if values.dtype.kind == "i" else values
    if values.dtype.itemsize == 2 or 255 < top <= 65535:
        return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if top <= 255:  # an 8-bit image stored in a 32-bit mode
        return values.astype(np.uint8)
    return (values.astype(np.uint32) >> 24).astype(np.uint8)


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
