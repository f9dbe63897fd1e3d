"""Decoding every format and mode an upload may arrive in, and refusing bad input clearly."""

from __future__ import annotations

import io
import itertools
import struct
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from engine.decode import decode_image, decode_opened, open_image, upright_size
from engine.errors import CorruptImageError, EmptyInputError, ImageTooLargeError, UnsupportedFormatError
from tests.synthetic import scene

MAX_MP = 64.0
DATA = Path(__file__).resolve().parents[1] / "data"


def _rgb() -> np.ndarray:
    bgr, _ = scene(96, 64, seed=3)
    return bgr[:, :, ::-1].copy()


def _save(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_supported_format_decodes_to_bgr(fmt: str) -> None:
    rgb = _rgb()
    decoded = decode_image(_save(Image.fromarray(rgb), fmt), MAX_MP)
    assert decoded.bgr.shape == (64, 96, 3) and decoded.bgr.dtype == np.uint8
    assert decoded.format == fmt
    tolerance = 40 if fmt in ("JPEG", "WEBP", "GIF") else 0
    assert np.abs(decoded.bgr[:, :, ::-1].astype(int) - rgb).mean() <= tolerance


def test_exif_orientation_is_applied() -> None:
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :40] = 255  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    for data in (
        _save(Image.fromarray(rgb), "JPEG", exif=exif.tobytes()),
        _save(Image.fromarray(rgb), "PNG", exif=exif.tobytes()),
    ):
        decoded = decode_image(data, MAX_MP)
        assert decoded.bgr.shape[:2] == (80, 40)
        assert decoded.bgr[5, 20].mean() > 200 and decoded.bgr[75, 20].mean() < 50  # white on top


_XMP_ROTATED = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize("fmt", ["JPEG", "CMYK JPEG", "PNG", "WEBP"])
def test_an_orientation_only_xmp_names_is_not_applied_in_any_format(fmt: str) -> None:
    """Browsers, and the page beside the cut-out, show such a photo as stored (only EXIF's tag turns
    it); OpenCV's JPEG path did so too, while Pillow's formats turned it, so one photo came out
    turned or not by its file format."""
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :40] = 255
    image = Image.fromarray(rgb).convert("CMYK") if fmt == "CMYK JPEG" else Image.fromarray(rgb)
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", _XMP_ROTATED.decode())
        data = _save(image, "PNG", pnginfo=info)
    else:
        data = _save(image, fmt.rsplit(maxsplit=1)[-1], xmp=_XMP_ROTATED)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.getexif().get(0x0112) == 6, "Pillow reads the XMP orientation from this file"

    decoded = decode_image(data, MAX_MP)

    assert decoded.bgr.shape[:2] == (40, 80), "as stored, as a browser shows it"
    assert decoded.bgr[20, 5].mean() > 200 and decoded.bgr[20, 75].mean() < 50  # white on the left


def test_the_upright_size_read_from_the_header_is_the_decoded_size() -> None:
    """`upright_size` (a header's size, turned by EXIF as the decoder turns it) is what
    decode_opened gives, without decoding: EXIF-turned JPEG (OpenCV) and PNG (Pillow), an
    orientation only XMP names (not applied), HEIC (libheif turns it) and AVIF."""
    rgb = np.zeros((40, 80, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    files = {
        "EXIF JPEG": _save(Image.fromarray(rgb), "JPEG", exif=exif.tobytes()),
        "EXIF PNG": _save(Image.fromarray(rgb), "PNG", exif=exif.tobytes()),
        "XMP JPEG": _save(Image.fromarray(rgb), "JPEG", xmp=_XMP_ROTATED),
        "HEIC": (DATA / "rotated-6.heic").read_bytes(),
        "AVIF": (DATA / "rotated-6.avif").read_bytes(),
    }
    for name, data in files.items():
        header = open_image(data, MAX_MP)
        size = upright_size(header)
        decoded = decode_opened(header, data)
        assert size == (decoded.width, decoded.height), name
        assert size == ((80, 40) if name == "XMP JPEG" else (40, 80) if "EXIF" in name else (32, 48)), name


def test_rgba_keeps_its_alpha() -> None:
    rgba = np.dstack([_rgb(), np.full((64, 96), 255, np.uint8)])
    rgba[:, :10, 3] = 0
    decoded = decode_image(_save(Image.fromarray(rgba), "PNG"), MAX_MP)
    assert decoded.alpha is not None
    assert decoded.alpha[:, :10].max() == 0 and decoded.alpha[:, 10:].min() == 255


def test_la_and_palette_transparency_become_alpha() -> None:
    la = Image.fromarray(np.dstack([np.full((8, 8), 120, np.uint8), np.eye(8, dtype=np.uint8) * 255]), "LA")
    assert decode_image(_save(la, "PNG"), MAX_MP).alpha is not None
    palette = Image.fromarray(_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    index = palette.getpixel((0, 0))
    data = _save(palette, "PNG", transparency=index)
    decoded = decode_image(data, MAX_MP)
    assert decoded.alpha is not None and decoded.alpha[0, 0] == 0


def test_cmyk_jpeg_decodes_to_the_right_colour() -> None:
    red = Image.new("RGB", (32, 32), (220, 20, 20)).convert("CMYK")
    decoded = decode_image(_save(red, "JPEG"), MAX_MP)
    b, g, r = decoded.bgr[16, 16].astype(int)
    assert r > 180 and g < 70 and b < 70


def test_grayscale_and_bilevel() -> None:
    gray = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (16, 1)))
    decoded = decode_image(_save(gray, "PNG"), MAX_MP)
    assert decoded.bgr.shape == (16, 64, 3) and decoded.bgr[0, 63, 0] == 252
    bilevel = gray.convert("1")
    assert decode_image(_save(bilevel, "PNG"), MAX_MP).bgr.max() == 255


def test_16_bit_png_is_scaled_not_clipped() -> None:
    ramp = (np.arange(256, dtype=np.uint32) * 257).reshape(16, 16).astype(np.uint16)
    data = _save(Image.fromarray(ramp), "PNG")
    decoded = decode_image(data, MAX_MP)
    assert decoded.bgr[:, :, 0].ravel().tolist() == list(range(256))  # not all white


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_a_dark_16_bit_gray_image_stays_dark_and_levels_are_rounded(fmt: str) -> None:
    """A 16-bit sample means value / 65535 of white whatever the image's brightest one: an image
    whose samples were all at most 255 (near black in any viewer) came out as bright as 8-bit
    values, and the others were floored (1020, 3.97 levels, became 3)."""
    dark = np.arange(256, dtype=np.uint16).reshape(16, 16)
    for samples, levels in ((dark, np.round(dark / 257)), (dark * 4, np.round(dark * 4 / 257))):
        decoded = decode_image(_save(Image.fromarray(samples), fmt), MAX_MP)
        assert decoded.bgr[:, :, 0].astype(int).ravel().tolist() == levels.astype(int).ravel().tolist()


def test_a_16_bit_gray_png_keeps_its_transparent_sample_value() -> None:
    """PNG's tRNS names one 16-bit gray sample as transparent: 8-bit gray honoured it, 16-bit did
    not, so the transparent surround came back as an opaque light-gray frame."""
    samples = np.full((8, 8), 40000, np.uint16)
    samples[2:6, 2:6] = 1000
    decoded = decode_image(_save(Image.fromarray(samples), "PNG", transparency=40000), MAX_MP)
    assert decoded.alpha is not None
    assert decoded.alpha.tolist() == np.where(samples == 40000, 0, 255).tolist()
    assert decoded.bgr[3, 3].tolist() == [4, 4, 4]  # 1000 / 257, rounded


def test_a_big_endian_16_bit_gray_tiff_decodes_as_its_little_endian_twin() -> None:
    """A TIFF written big-endian ("MM", as Macs, scanners and scientific cameras write them) opens
    in Pillow's I;16B mode, whose extrema Pillow cannot take: it was refused as corrupt."""
    ramp = (np.arange(256, dtype=np.uint32) * 257).reshape(16, 16).astype(np.uint16)
    big = decode_image(_save(Image.fromarray(ramp.astype(">u2")), "TIFF"), MAX_MP)
    little = decode_image(_save(Image.fromarray(ramp), "TIFF"), MAX_MP)
    assert np.array_equal(big.bgr, little.bgr)
    assert big.bgr[:, :, 0].ravel().tolist() == list(range(256))


def test_16_bit_rgb_tiff() -> None:
    data = _save(Image.fromarray(_rgb()), "TIFF")
    assert decode_image(data, MAX_MP).bgr.shape == (64, 96, 3)


def test_animated_gif_takes_the_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((250, 0, 0), (0, 0, 250))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    decoded = decode_image(buffer.getvalue(), MAX_MP)
    assert decoded.bgr[10, 10, 2] > 200 and decoded.bgr[10, 10, 0] < 50


def test_animated_webp_takes_the_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 250, 0), (0, 0, 250))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=50, lossless=True)
    decoded = decode_image(buffer.getvalue(), MAX_MP)
    assert decoded.bgr[10, 10, 1] > 200 and decoded.bgr[10, 10, 0] < 50


def test_icc_profile_is_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for fmt in ("JPEG", "PNG"):
        decoded = decode_image(_save(Image.fromarray(_rgb()), fmt, icc_profile=profile), MAX_MP)
        assert decoded.icc_profile == profile


def test_empty_input() -> None:
    with pytest.raises(EmptyInputError, match="empty"):
        decode_image(b"", MAX_MP)


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"hello, this is text\n" * 5, "text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
    ],
)
def test_non_images_are_unsupported(data: bytes, hint: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=hint):
        decode_image(data, MAX_MP)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_corrupt(fmt: str) -> None:
    data = _save(Image.fromarray(_rgb()), fmt)
    with pytest.raises(CorruptImageError):
        decode_image(data[: len(data) // 2], MAX_MP)


def _bad_ihdr_crc() -> bytes:
    data = bytearray(_save(Image.fromarray(_rgb()), "PNG"))
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n",  # the signature alone
        _bad_ihdr_crc(),
        b"GIF89a\x10\x00\x10\x00\x80\x00\x00\xff\xff\xff\x00\x00",  # a GIF cut in its colour table
        b"II*\x00\x08\x00\x00\x00",  # a TIFF header pointing at nothing
    ],
    ids=["png-signature", "png-ihdr-crc", "gif-cut", "tiff-header"],
)
def test_a_file_with_an_image_formats_signature_but_a_broken_header_is_corrupt(data: bytes) -> None:
    """They were called unsupported formats (415, "send ... PNG"), which they are not: they are broken ones."""
    with pytest.raises(CorruptImageError):
        decode_image(data, MAX_MP)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_valid_tiff_of_a_pixel_layout_pillow_cannot_read_is_unsupported_not_corrupt(channels: int) -> None:
    """An HDR merge saved as 32-bit float RGB TIFF (or a 64-bit float gray one) was answered
    corrupt_image, "a TIFF whose header is corrupt or cut short", for a sound file."""
    pixels = np.ones((16, 24, 3), np.float32) / 2 if channels == 3 else np.ones((16, 24), np.float64)
    ok, encoded = cv2.imencode(".tiff", pixels)
    assert ok
    with pytest.raises(UnsupportedFormatError, match=r"TIFF .*8 or 16 bits"):
        decode_image(encoded.tobytes(), MAX_MP)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = _save(Image.new("1", (20000, 20000)), "PNG")  # ~50 kB file, 400 MP
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLargeError, match=r"^image is 20000x20000 \(400.0 MP\), over the 64 MP limit$"):
        decode_image(bomb, MAX_MP)  # over Pillow's own cap too: the same message, not Pillow's
    medium = _save(Image.new("1", (10000, 8000)), "PNG")  # 80 MP: under Pillow's limit, over ours
    with pytest.raises(ImageTooLargeError, match=r"80.0 MP\), over the 64 MP limit"):
        decode_image(medium, MAX_MP)


def test_megapixel_cap_is_configurable() -> None:
    data = _save(Image.fromarray(_rgb()), "PNG")
    with pytest.raises(ImageTooLargeError, match="limit"):
        decode_image(data, 0.001)


@pytest.mark.parametrize("size", [(1, 1), (20000, 10)])
def test_extreme_shapes_decode(size: tuple[int, int]) -> None:
    data = _save(Image.new("RGB", size, (10, 20, 30)), "PNG")
    assert decode_image(data, MAX_MP).bgr.shape == (size[1], size[0], 3)


def _traced_decode_peak(data: bytes) -> int:
    tracemalloc.start()
    try:
        decode_image(data, MAX_MP)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("mode", ["I;16", "F", "RGBA", "LA"])
def test_wide_and_alpha_modes_decode_without_full_size_temporaries(mode: str) -> None:
    """Beside Pillow's own image, only the result (3 bytes a pixel, 4 with alpha) is full size:
    converting in bands keeps 16-bit, float and RGBA TIFFs at 64 MP within the function's memory."""
    height, width = 1000, 1500
    ramp = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    if mode == "I;16":
        image = Image.fromarray((ramp * 65535).astype(np.uint16))
    elif mode == "F":
        image = Image.fromarray(ramp * 7.5, "F")
    else:
        channels = 4 if mode == "RGBA" else 2
        image = Image.fromarray(np.dstack([(ramp * 255).astype(np.uint8)] * channels), mode)
    data = _save(image, "TIFF")
    decoded = decode_image(data, MAX_MP)
    assert decoded.bgr[0, -1].tolist() == [255, 255, 255] and decoded.bgr[0, 0].tolist() == [0, 0, 0]
    result = width * height * (3 if decoded.alpha is None else 4)
    assert _traced_decode_peak(data) <= result + 4 * 2**20


def test_a_gif_whose_frame_pillow_refuses_to_even_describe_is_too_large_not_a_crash() -> None:
    """Found by the fuzzer: a 96x64 GIF whose first frame sits at (41159, 55061) with a size of
    55912x37391 made the size lookup raise Pillow's own DecompressionBombError (the GIF plugin checks
    its first frame while it reads the header), an uncaught exception instead of a clean refusal."""
    screen = struct.pack("<HH", 96, 64) + b"\x00\x00\x00"  # no global colour table
    frame = b"\x2c" + struct.pack("<HHHH", 41159, 55061, 55912, 37391)
    with pytest.raises(ImageTooLargeError, match=r"over the 64 MP limit$"):
        decode_image(b"GIF89a" + screen + frame, MAX_MP)


def test_decodes_in_two_threads_leave_the_warning_filters_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service calling bgremove.remove from threads found `ignore DecompressionBombWarning` left in
    its process's warning filters for good: `warnings.catch_warnings` swaps one process-wide list,
    and of two threads inside it at once, the second to leave put back the list the first had
    changed. Here the first thread to open an image waits there for the second, and leaves first."""
    real_open, entered = Image.open, itertools.count()
    both_inside = threading.Barrier(2, timeout=1)

    def slow_open(*args: object, **kwargs: object) -> Image.Image:
        second = next(entered) == 1
        try:
            both_inside.wait()
        except threading.BrokenBarrierError:  # the opens cannot overlap: the point of the fix
            pass
        if second:
            time.sleep(0.2)
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", slow_open)
    data, before = _save(Image.fromarray(_rgb()), "PNG"), list(warnings.filters)
    decoded: list[int] = []
    threads = [threading.Thread(target=lambda: decoded.append(decode_image(data, MAX_MP).width)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert decoded == [96, 96]
    assert warnings.filters == before


def _tiff_entry(data: bytearray, tag: int) -> int:
    """The offset of `tag`'s 12-byte entry in a little-endian TIFF's first IFD."""
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0]
    entry = next(ifd + 2 + 12 * i for i in range(count) if struct.unpack_from("<H", data, ifd + 2 + 12 * i)[0] == tag)
    return entry


def test_a_tiff_whose_strip_offsets_are_not_integers_is_corrupt() -> None:
    """Found by fuzzing bgremove.remove: a TIFF whose StripOffsets tag says FLOAT (one byte of the
    file changed) raised Pillow's TypeError ("'float' object cannot be interpreted as an integer"),
    which `except bgremove.InputError` did not catch: a service answered a bad upload with a 500."""
    data = bytearray(_save(Image.fromarray(_rgb()), "TIFF"))
    struct.pack_into("<H", data, _tiff_entry(data, 273) + 2, 11)  # StripOffsets' type: FLOAT
    with pytest.raises(CorruptImageError, match="corrupt or truncated"):
        decode_image(bytes(data), MAX_MP)
