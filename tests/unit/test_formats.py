"""Output formats through the one mechanism (engine/formats.py), and the inputs phones and the web
send (HEIC, AVIF, .jfif/.jpe), with their EXIF orientation; size=preview's reduced input."""

from __future__ import annotations

import io
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

import engine
from engine import FORMATS, INPUT_SUFFIXES, ImageTooLargeError, InputError, InvalidOptionError, Options, OutputMode
from engine.decode import decode_image, is_heif
from engine.formats import by_media_type, output_format
from engine.memory import working_mb
from engine.options import PREVIEW_PIXELS
from tests.synthetic import encode, scene

DATA = Path(__file__).resolve().parents[1] / "data"
SIGNATURES = {"png": b"\x89PNG", "webp": b"RIFF", "jpeg": b"\xff\xd8", "avif": b"\x00\x00\x00"}
PILLOW_NAMES = {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG", "avif": "AVIF"}


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def photo() -> tuple[bytes, np.ndarray]:
    bgr, mask = scene(320, 240, seed=2)
    return encode(bgr, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92), mask


@pytest.fixture(scope="module")
def png_cutout(photo: tuple[bytes, np.ndarray]) -> np.ndarray:
    """The PNG cut-out's RGBA pixels, the reference the other formats are held to."""
    return np.asarray(_open(engine.remove_background(photo[0]).data))


def test_every_format_has_its_own_suffix_media_type_and_pillow_name() -> None:
    assert set(FORMATS) >= {"png", "webp", "jpeg"}
    assert "avif" in FORMATS, "Pillow's wheel encodes AVIF: the format is offered"
    assert len({f.suffix for f in FORMATS.values()}) == len({f.media_type for f in FORMATS.values()}) == len(FORMATS)
    assert (
        output_format("jpg") is FORMATS["jpeg"]
        and Options.from_strings({"format": "JPG", "output": "mask"}).format == "jpeg"
    )
    assert by_media_type("image/webp") is FORMATS["webp"] and by_media_type("image/gif") is None


@pytest.mark.parametrize("name", ["png", "webp", "avif"])
def test_transparent_formats_carry_the_matte(
    name: str, photo: tuple[bytes, np.ndarray], png_cutout: np.ndarray
) -> None:
    data, _ = photo
    cutout = engine.remove_background(data, Options(format=name))
    assert cutout.data.startswith(SIGNATURES[name]) and cutout.media_type == FORMATS[name].media_type
    image = _open(cutout.data)
    assert image.format == PILLOW_NAMES[name] and image.mode == "RGBA" and image.size == (320, 240)
    alpha, reference = np.asarray(image)[:, :, 3].astype(int), png_cutout[:, :, 3].astype(int)
    if name == "avif":  # AVIF's alpha is lossy too
        assert np.abs(alpha - reference).mean() < 2
    else:  # PNG, and WebP's alpha plane is lossless even when its colours are not
        assert np.array_equal(alpha, reference)


def test_webp_at_quality_100_is_lossless(photo: tuple[bytes, np.ndarray], png_cutout: np.ndarray) -> None:
    data, _ = photo
    lossless = engine.remove_background(data, Options(format="webp", quality=100)).data
    webp = np.asarray(_open(lossless))
    opaque = png_cutout[:, :, 3] > 0
    assert np.array_equal(png_cutout[opaque], webp[opaque])
    assert len(engine.remove_background(data, Options(format="webp", quality=50)).data) < len(lossless)


def test_jpeg_is_refused_for_transparency_and_written_flattened_or_as_a_mask(photo: tuple[bytes, np.ndarray]) -> None:
    data, mask = photo
    with pytest.raises(InvalidOptionError, match="no transparency"):
        Options(format="jpeg")
    with pytest.raises(InvalidOptionError, match="background"):
        Options.from_strings({"format": "jpg"})
    flat = _open(engine.remove_background(data, Options(format="jpeg", background=(255, 255, 255))).data)
    assert flat.format == "JPEG" and flat.mode == "RGB"
    assert np.asarray(flat)[3, 3].min() > 240  # the corner is background: white
    matte = engine.remove_background(data, Options(format="jpeg", output=OutputMode.MASK))
    assert matte.media_type == "image/jpeg" and _open(matte.data).mode == "L"
    assert ((np.asarray(_open(matte.data)) >= 128) == (mask >= 128)).mean() > 0.95


def test_quality_is_bounded_and_round_trips_as_text() -> None:
    with pytest.raises(InvalidOptionError, match="quality"):
        Options.from_strings({"quality": "101"})
    options = Options.from_strings({"format": "webp", "quality": "75", "size": "preview"})
    assert Options.from_strings(options.to_strings()) == options
    assert Options().encode_quality == FORMATS["png"].default_quality
    assert Options(format="webp").encode_quality == FORMATS["webp"].default_quality


def test_the_icc_profile_is_carried_into_webp_and_jpeg() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    bgr, _ = scene(160, 120, seed=1)
    buffer = io.BytesIO()
    Image.fromarray(bgr[:, :, ::-1]).save(buffer, "JPEG", icc_profile=profile)
    for options in (Options(format="webp"), Options(format="jpeg", background=(0, 0, 0))):
        assert _open(engine.remove_background(buffer.getvalue(), options).data).info.get("icc_profile") == profile


@pytest.mark.parametrize("ext", [".jpg", ".png"])  # OpenCV's reduced JPEG decode, Pillow's path
def test_preview_is_at_most_a_quarter_megapixel_of_the_same_shape(ext: str) -> None:
    bgr = cv2.resize(scene(400, 300, seed=0)[0], (1600, 1200))  # (generating a large scene is slow)
    cutout = engine.remove_background(encode(bgr, ext), Options.from_strings({"size": "preview"}))
    assert cutout.width * cutout.height <= PREVIEW_PIXELS
    assert cutout.width * cutout.height > 0.9 * PREVIEW_PIXELS
    assert cutout.width / cutout.height == pytest.approx(4 / 3, rel=0.01)
    assert (cutout.source_width, cutout.source_height) == (cutout.width, cutout.height)
    small = engine.remove_background(encode(bgr[:300, :400], ext), Options.from_strings({"size": "preview"}))
    assert (small.width, small.height) == (400, 300), "a small image is not enlarged"


def test_the_memory_budget_counts_each_encoders_working_memory() -> None:
    header = Image.new("RGB", (4000, 3000))
    png = working_mb(header, 1_000_000, Options(), opencv_jpeg=True)
    for name in ("webp", "avif"):
        extra = working_mb(header, 1_000_000, Options(format=name), opencv_jpeg=True) - png
        assert extra == pytest.approx(FORMATS[name].encoder_bytes_per_pixel * 12e6 / (1 << 20))
        assert FORMATS[name].encoder_bytes_per_pixel >= 26, "at least what was measured at 12 MP"


@pytest.mark.parametrize("name", ["webp", "jpeg", "avif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_encoding_leaves_the_callers_pixels_as_they_were(name: str, channels: int) -> None:
    """Pillow's encoders get the pixels in RGB order by a swap in place, undone afterwards."""
    if name == "jpeg" and channels == 4:
        channels = 3
    bgr = scene(64, 48, seed=1)[0]
    pixels = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)]) if channels == 4 else bgr
    before = pixels.copy()

    data = FORMATS[name].encode(pixels, 1, 100, None)

    assert np.array_equal(pixels, before)
    decoded = np.asarray(_open(data).convert("RGBA" if channels == 4 else "RGB"))
    assert np.abs(decoded[..., :3].astype(int) - before[..., 2::-1]).mean() < 8, "colours in RGB order"


def test_phone_and_web_suffixes_are_read() -> None:
    assert {".heic", ".heif", ".avif", ".jfif", ".jpe"} <= set(INPUT_SUFFIXES)


@pytest.mark.parametrize("name", ["rotated-6.heic", "rotated-6.avif"])
def test_heic_and_avif_decode_upright(name: str) -> None:
    """The file holds a 48x32 picture, red left, blue right, and EXIF orientation 6 (turn 90°
    clockwise to show it): upright it is 32x48, red on top, blue below."""
    decoded = decode_image((DATA / name).read_bytes(), 64)
    assert decoded.format in ("HEIF", "AVIF") and (decoded.width, decoded.height) == (32, 48)
    top, bottom = decoded.bgr[4, 16].astype(int), decoded.bgr[-4, 16].astype(int)
    assert top[2] > 200 and top[0] < 60, "red (BGR) on top"
    assert bottom[0] > 200 and bottom[2] < 60, "blue below"


def test_heif_is_told_by_its_brands_and_avif_is_not_heif() -> None:
    assert is_heif((DATA / "rotated-6.heic").read_bytes())
    assert is_heif(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00heicmif1")
    assert not is_heif((DATA / "rotated-6.avif").read_bytes()), "AVIF lists mif1 too: Pillow's own plugin reads it"
    assert not is_heif(b"\xff\xd8\xff\xe0") and not is_heif(b"")


def test_a_heic_photo_is_cut_out_to_any_format() -> None:
    cutout = engine.remove_background((DATA / "rotated-6.heic").read_bytes(), Options(format="webp"))
    assert (cutout.width, cutout.height) == (32, 48) and _open(cutout.data).format == "WEBP"


@pytest.mark.parametrize("name", ["rotated-6.heic", "rotated-6.avif"])
def test_damaged_heic_and_avif_are_typed_input_errors(name: str) -> None:
    """libheif and libavif raise RuntimeError on some damaged files ("Security limit exceeded",
    "Conversion from YUV failed"): those are corrupt images, not crashes of the service."""
    data = (DATA / name).read_bytes()
    rng = random.Random(14)  # noqa: S311 - reproducible damage, not a secret
    damaged = [data[:cut] for cut in (12, 40, 100, len(data) // 2, len(data) - 10)]
    for _ in range(150):
        flipped = bytearray(data)
        for _ in range(5):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        damaged.append(bytes(flipped))
    for sample in damaged:
        try:
            decode_image(sample, 64)
        except InputError:
            continue


@pytest.mark.parametrize("size", [(1, 1_000_001), (1_000_001, 1)])
def test_a_png_over_libpngs_longest_side_is_too_large_not_a_broken_deployment(size: tuple[int, int]) -> None:
    """Found by fuzzing bgremove.remove: a 1x1,481,707 TIFF (1.5 MP, under the 64 MP cap) was cut
    out, then OpenCV's PNG writer (libpng: at most 1,000,000 px a side) refused it and the engine
    raised its bare EngineError, a broken deployment's kind, which `except bgremove.InputError`
    missed. It is refused as WebP's 16,383 px are, with a way out."""
    data = io.BytesIO()
    Image.new("L", size, 128).save(data, "PNG")
    with pytest.raises(ImageTooLargeError, match=r"png images have at most 1000000 px a side; crop it or place"):
        engine.remove(data.getvalue())
    assert _open(engine.remove(data.getvalue(), canvas="1000x1000")).size == (1000, 1000)
