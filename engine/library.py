"""The Python entry point, in rembg's style: `remove(data, **options) -> bytes`, and `cut_out` for the
whole `Cutout` (timings, findings, size).

The photo is its encoded bytes (or any bytes-like object), a path, a binary file, or a PIL image, for
which `remove` returns a PIL image as rembg's does (the image goes through the same pipeline as a
file: written losslessly with its ICC profile and EXIF, so its orientation is honoured alike). An
array is refused: whether it is OpenCV's BGR or Pillow's RGB cannot be told. Options are
keyword arguments with the engine option names of the HTTP API and `DEFAULT_OPTIONS`
(`background="#ffffff"`, `format="webp"`, `output="mask"`, `crop_margin=0.1`, `soft_edges=True`;
docs/api.md, Options): each value is turned into text and parsed by `Options.from_strings`, the one
parser of every entry point, so an unknown name or a bad value raises the same `InvalidOptionError`
with the same message. `canvas` and `roi` take Python's forms too (`canvas=(800, 600)`;
`roi=(10, 20, 300, 400)`, ints in pixels, floats shares 0-1), read by placement's `canvas_of` and
`roi_of` as `Options(...)` reads them, then written as their text.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, overload

from PIL import Image

from .options import Options, python_text
from .pipeline import remove_background
from .result import Cutout

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO | Image.Image
_PNG_MODES = frozenset(("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"))  # what Pillow writes as PNG
_TIFF_MODES = frozenset(("CMYK", "F", "I", "I;16L", "LAB", "PA", "RGBX", "YCbCr"))  # the rest it writes as TIFF
_WRITABLE_AS = {"La": "LA", "RGBa": "RGBA", "I;16N": "I;16"}  # premultiplied alpha, native byte order


def read_source(source: Source) -> bytes:
    """The encoded image of `source`: bytes-like as they are, a path's file, a binary file's rest,
    a PIL image written losslessly (`encoded`)."""
    if isinstance(source, Image.Image):
        return encoded(source)
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
        "pass encoded image bytes, a path, a binary file or a PIL image, not "
        f"{type(source).__module__}.{type(source).__name__} (an array: encode it first, e.g. "
        "cv2.imencode('.png', bgr)[1].tobytes(), or pass Image.fromarray(rgb))"
    )


def encoded(image: Image.Image) -> bytes:
    """A PIL image as a lossless file the pipeline reads as it reads any: PNG (stored, fast) where
    the mode allows, else TIFF (CMYK and the like), with its ICC profile and EXIF. A mode Pillow
    writes in neither (La, RGBa, I;16N, HSV) is converted first: to its plain twin, else RGB(A)."""
    out = io.BytesIO()
    params: dict[str, object] = {"exif": image.getexif()}
    if image.info.get("icc_profile"):
        params["icc_profile"] = image.info["icc_profile"]
    if image.mode not in _PNG_MODES | _TIFF_MODES:
        image = image.convert(_WRITABLE_AS.get(image.mode) or ("RGBA" if "A" in image.getbands() else "RGB"))
    if image.mode in _PNG_MODES:
        image.save(out, "PNG", compress_level=0, **params)
    else:
        image.save(out, "TIFF", **params)
    return out.getvalue()


def options_from(values: dict[str, object]) -> Options:
    """Keyword options (text, bool, int, float, an (r, g, b) tuple, a (width, height) canvas, an
    (x1, y1, x2, y2) roi, None for unset) as `Options`."""
    return Options.from_strings({name: python_text(name, value) for name, value in values.items() if value is not None})


def cut_out(source: Source, **options: object) -> Cutout:
    """Cut the subject out of a photo (`Source`): the encoded result with its size, timings and findings."""
    return remove_background(read_source(source), options_from(options))


@overload
def remove(source: Image.Image, **options: object) -> Image.Image: ...
@overload
def remove(source: bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO, **options: object) -> bytes: ...
def remove(source: Source, **options: object) -> bytes | Image.Image:
    """Cut the subject out of a photo (`Source`) and return the encoded cut-out (PNG unless
    `format=`), or for a PIL image the cut-out as a PIL image (RGBA; RGB on a `background`, L for a mask)."""
    data = cut_out(source, **options).data
    if not isinstance(source, Image.Image):
        return data
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
