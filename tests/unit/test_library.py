"""`remove` and `cut_out`, the Python entry point: keyword options in the CLI's and the API's spellings."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

import engine
from engine import InvalidOptionError
from tests.synthetic import encode, scene


@pytest.fixture(scope="module")
def photo() -> bytes:
    return encode(scene(240, 180, seed=4)[0])


def test_remove_returns_a_png_cut_out_of_the_photo(photo: bytes) -> None:
    image = Image.open(io.BytesIO(engine.remove(photo)))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (240, 180)
    alpha = np.asarray(image)[:, :, 3]
    assert alpha.min() == 0 and alpha.max() == 255


def test_a_background_in_the_apis_spelling_flattens_the_cut_out(photo: bytes) -> None:
    image = Image.open(io.BytesIO(engine.remove(photo, background="#ffffff", format="jpeg", quality=90)))
    assert image.format == "JPEG" and image.mode == "RGB"
    assert (np.asarray(image)[0, 0] >= 245).all()  # the corner is background: white


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"background": "#ffffff"}, (255, 255, 255)),
        ({"background": (0, 128, 255)}, (0, 128, 255)),
        ({"background": [0, 128, 255]}, (0, 128, 255)),  # a list, as read from JSON or YAML
        ({"background": np.array([0, 128, 255], np.uint8)}, (0, 128, 255)),  # a pixel taken from an array
        ({"background": None}, None),
    ],
)
def test_values_are_read_as_the_cli_reads_its_flags(options: dict[str, object], expected: object) -> None:
    assert engine.library.options_from(options).background == expected


def test_typed_values_take_the_same_parser(photo: bytes) -> None:
    cutout = engine.cut_out(photo, crop=True, crop_margin=0, refine=False, format="webp")
    assert cutout.media_type == "image/webp" and cutout.width < 240
    assert cutout.timings.total > 0 and set(cutout.findings()) >= {"uncertainty", "estimated_error"}


@pytest.mark.parametrize(
    ("options", "message"),
    [({"backgound": "#fff"}, "unknown option(s) backgound"), ({"quality": 101}, "quality must be 0-100")],
)
def test_a_bad_option_is_refused_as_the_api_refuses_it(photo: bytes, options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidOptionError, match=re.escape(message)):
        engine.remove(photo, **options)


def test_a_path_a_binary_file_or_any_bytes_like_is_read_as_the_photo(photo: bytes, tmp_path) -> None:
    """A Path said "not subscriptable", a memoryview raised AttributeError: one of them had to be guessed."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(photo)
    expected = engine.remove(photo)
    with path.open("rb") as handle:
        sources = [path, str(path), handle, bytearray(photo), memoryview(photo)]
        assert all(engine.remove(source) == expected for source in sources)


@pytest.mark.parametrize("source", [np.zeros((4, 4, 3), np.uint8), 42])
def test_anything_else_is_a_type_error_that_says_what_to_pass(source: object) -> None:
    """An array is refused: its channel order (OpenCV's BGR or Pillow's RGB) cannot be told."""
    with pytest.raises(TypeError, match="encoded image bytes, a path, a binary file or a PIL image"):
        engine.remove(source)  # type: ignore[call-overload]


def test_a_pil_image_comes_back_as_a_pil_cut_out_as_with_rembg() -> None:
    """`remove(Image.open(p))` is how rembg's users call it, and they get an image back."""
    photo = encode(scene(240, 180, seed=4)[0], ".png")
    expected = np.asarray(Image.open(io.BytesIO(engine.remove(photo))))

    cut = engine.remove(Image.open(io.BytesIO(photo)))

    assert isinstance(cut, Image.Image) and cut.mode == "RGBA" and cut.size == (240, 180)
    assert np.array_equal(np.asarray(cut), expected), "the same cut-out as from the file's bytes"
    mask = engine.remove(Image.open(io.BytesIO(photo)), output="mask")
    assert isinstance(mask, Image.Image) and mask.mode == "L"


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "I;16", "1"])
def test_a_pil_image_in_any_mode_is_cut_out_keeping_its_transparency(mode: str) -> None:
    rgb = Image.fromarray(scene(120, 90, seed=5)[0][:, :, ::-1].copy())
    image = rgb.convert("RGBA") if mode in ("RGBA", "LA") else rgb
    if mode in ("RGBA", "LA"):
        image.putalpha(Image.linear_gradient("L").resize((120, 90)).point(lambda v: 0 if v < 40 else 255))
    image = image.convert(mode) if mode not in ("RGBA",) else image

    cut = engine.remove(image)

    assert isinstance(cut, Image.Image) and cut.size == (120, 90)
    if mode in ("RGBA", "LA"):
        assert np.asarray(cut.getchannel("A"))[:5].max() == 0, "the top rows were already transparent"


@pytest.mark.parametrize("mode", ["I", "I;16B", "I;16L", "I;16N", "La", "RGBa", "HSV", "PA", "LAB", "YCbCr", "F"])
def test_a_pil_image_in_a_mode_neither_png_nor_tiff_writes_is_cut_out_too(mode: str) -> None:
    """Pillow writes no PNG of mode I (any more) and no file at all of La, RGBa, I;16N or HSV: these
    were an OSError from inside the library, and a big-endian I;16B a 'corrupt image' error."""
    rgb = Image.fromarray(scene(120, 90, seed=5)[0][:, :, ::-1].copy())
    gray16 = np.asarray(rgb.convert("L")).astype(np.uint16) * 257
    if mode in ("I", "I;16B", "I;16L", "I;16N"):
        dtype = {"I": np.int32, "I;16B": ">u2", "I;16L": "<u2", "I;16N": "=u2"}[mode]
        image = Image.frombytes(mode, rgb.size, gray16.astype(dtype).tobytes())
    elif mode in ("La", "RGBa"):
        image = rgb.convert(mode[:-1] + "A")
        image.putalpha(Image.linear_gradient("L").resize((120, 90)).point(lambda v: 0 if v < 40 else 255))
        image = image.convert(mode)
    else:
        image = rgb.convert(mode)
    assert image.mode == mode

    cut = engine.remove(image)

    assert isinstance(cut, Image.Image) and cut.mode == "RGBA" and cut.size == (120, 90)
    if mode in ("La", "RGBa"):
        assert np.asarray(cut.getchannel("A"))[:5].max() == 0, "the top rows were already transparent"


def test_a_pil_images_exif_orientation_and_icc_profile_are_honoured() -> None:
    from PIL import ImageCms  # noqa: PLC0415

    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :40] = 255
    image = Image.fromarray(rgb)
    image.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = image.getexif()
    exif[0x0112] = 6  # shown turned 90° clockwise, as its EXIF says, like the same photo's file

    cut = engine.remove(image)

    assert cut.size == (40, 80)
    assert cut.info.get("icc_profile") == image.info["icc_profile"]
