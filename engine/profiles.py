"""Colour profiles (ICC) of the inputs: what the decoded colours mean, and which profile an
output may carry.

The pipeline's pixels are RGB. An input whose profile describes RGB keeps it: its pixels stay in
that space and every colour output carries the profile. A gray or CMYK input's pixels are
converted through its profile to sRGB (Pillow's ImageCms, that is LittleCMS), after which they need
no profile. A profile that cannot be read, or that describes another space than its image's
(a CMYK profile in an RGB PNG), is dropped, since a PNG must not carry it; so is every profile on
an output without colour (the mask). A background colour is named in sRGB (as on the web): on an
output that carries an RGB profile it is written as that profile's values for the same colour.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms

GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})  # and every "I;16..." mode
_SRGB = ImageCms.createProfile("sRGB")


def is_gray(mode: str) -> bool:
    return mode in GRAY_MODES or mode.startswith("I;16")


def space(icc: bytes | None) -> str | None:
    """The colour space a readable profile describes ("RGB", "GRAY", "CMYK", ...), else None."""
    if not icc:
        return None
    try:
        return str(ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space).strip()
    except (OSError, ImageCms.PyCMSError):
        return None


@dataclass(frozen=True)
class Conversion:
    """How one input's pixels become sRGB (or keep their own RGB profile)."""

    keep: bytes | None = None  # the RGB profile the outputs carry
    cmyk: ImageCms.ImageCmsTransform | None = None  # CMYK bands -> sRGB RGB bands
    gray_lut: np.ndarray | None = None  # 256x1x3 uint8: the gray level -> its sRGB colour (cv2.LUT)


def conversion(icc: bytes | None, mode: str) -> Conversion:
    """What to do with the colours of an image of `mode` that carries `icc`."""
    described = space(icc)
    if described == "RGB" and not is_gray(mode) and mode != "CMYK":
        return Conversion(keep=icc)
    try:
        if described == "CMYK" and mode == "CMYK":
            return Conversion(cmyk=ImageCms.buildTransform(_profile(icc), _SRGB, "CMYK", "RGB"))
        if described == "GRAY" and is_gray(mode):
            ramp = Image.frombytes("L", (256, 1), bytes(range(256)))
            srgb = ImageCms.applyTransform(ramp, ImageCms.buildTransform(_profile(icc), _SRGB, "L", "RGB"))
            if srgb is not None:
                return Conversion(gray_lut=np.asarray(srgb)[0, :, ::-1].reshape(256, 1, 3).copy())  # BGR order
    except (OSError, ImageCms.PyCMSError):  # LittleCMS cannot use it: as if there were none
        pass
    return Conversion()


def _profile(icc: bytes | None) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc or b""))


def srgb_in(icc: bytes | None, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The sRGB colour `rgb` as the values of the RGB profile `icc` (relative colorimetric, clipped
    to its gamut), for pixels written under that profile; `rgb` itself without a usable one."""
    if space(icc) != "RGB":
        return rgb
    try:
        transform = ImageCms.buildTransform(_SRGB, _profile(icc), "RGB", "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC)
        pixel = ImageCms.applyTransform(Image.new("RGB", (1, 1), rgb), transform)
    except (OSError, ImageCms.PyCMSError):  # LittleCMS cannot use it: as if there were none
        return rgb
    if pixel is None:
        return rgb
    r, g, b = pixel.getpixel((0, 0))  # type: ignore[misc]
    return int(r), int(g), int(b)


def for_output(icc: bytes | None, channels: int) -> bytes | None:
    """The profile an output of `channels` (1 gray, 3 or 4 colour) may carry: an RGB one on colour."""
    return icc if channels in (3, 4) and space(icc) == "RGB" else None
