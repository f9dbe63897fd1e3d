"""The threaded PNG writer (engine/png.py): every reader gets the pixels back exactly, whatever the
shape, channels and thread count; its one zlib stream checks out; files are no larger than
OpenCV's own writer made them."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from engine import png
from engine.encode import encode_png
from engine.layers import Layers, to_bgra
from tests.synthetic import scene


def _pixels(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[: height // 3] = 0  # a transparent-looking run, as cut-outs have
    return pixels


def _idat(data: bytes) -> bytes:
    """The concatenated IDAT payloads of a PNG file."""
    pos, payload = len(png.SIGNATURE), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            payload += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return payload


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (5, 3), (257, 131), (700, 600)])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_opencv_and_pillow_read_back_the_exact_pixels(
    shape: tuple[int, int], channels: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(png, "BAND_BYTES", 4096)  # small images in several bands too
    pixels = _pixels(*shape, channels)
    data = encode_png(pixels, 1, threads=threads)

    assert np.array_equal(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).reshape(pixels.shape), pixels
    )
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        back = np.asarray(image)
    expected = pixels if channels == 1 else pixels[..., [2, 1, 0, 3][:channels]]
    assert np.array_equal(back, expected)


@pytest.mark.parametrize("shape", [(600, 500, 4), (200_000, 1), (3, 70_000, 3)])
def test_the_same_pixels_make_the_same_bytes_whatever_the_thread_count(shape: tuple[int, ...]) -> None:
    """The bands were cut by the thread count too, so a cut-out under a few MB came out as other
    bytes (another ETag) from a Lambda function of another memory size, a machine of other CPUs or
    the CLI's `-j`, though its pixels were the same."""
    pixels = _pixels(shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
    assert len({encode_png(pixels, 1, threads=threads) for threads in (1, 2, 3, 6)}) == 1


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_the_zlib_stream_and_its_checksum_are_valid(threads: int) -> None:
    """zlib.decompress checks the Adler-32 the bands' checksums were combined into, and that the
    stream ends in exactly one final block."""
    pixels = _pixels(1500, 700, 4)  # several bands of BAND_BYTES
    raw = zlib.decompress(_idat(encode_png(pixels, 1, threads=threads)))
    assert len(raw) == 1500 * (700 * 4 + 1)
    assert raw[:: 700 * 4 + 1] == bytes([2]) * 1500  # every row UP-filtered


def test_adler32_combine_is_zlibs() -> None:
    rng = np.random.default_rng(3)
    for length_a, length_b in [(0, 5), (5, 0), (1, 1), (70_000, 131_071), (3, 200_000)]:
        a, b = rng.integers(0, 256, length_a, np.uint8).tobytes(), rng.integers(0, 256, length_b, np.uint8).tobytes()
        assert png.adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_threads_change_neither_the_image_nor_the_size_much(level: int) -> None:
    bgr, mask = scene(900, 700, seed=4)
    pixels = np.dstack([bgr, mask])
    one, two = encode_png(pixels, level, threads=1), encode_png(pixels, level, threads=2)
    assert np.array_equal(
        cv2.imdecode(np.frombuffer(one, np.uint8), -1), cv2.imdecode(np.frombuffer(two, np.uint8), -1)
    )
    assert abs(len(two) - len(one)) <= 0.01 * len(one) + 64


def test_a_cut_out_is_no_larger_than_opencvs_writer_made_it() -> None:
    bgr, mask = scene(1200, 900, seed=5)
    pixels = np.dstack([bgr, mask])
    pixels[mask == 0] = 0  # transparent pixels carry no colour, as the pipeline writes them
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    opencv = cv2.imencode(".png", pixels, [*params, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])[1]
    assert len(encode_png(pixels, 1, threads=2)) <= 1.01 * opencv.size


def test_the_icc_profile_and_a_view_of_the_callers_pixels_are_carried() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    whole = _pixels(300, 400, 4)
    view = whole[10:290:2, 20:380]  # strided rows, not C-contiguous
    before = whole.copy()

    data = encode_png(view, 1, icc_profile=profile, threads=2)

    assert np.array_equal(whole, before)
    with Image.open(io.BytesIO(data)) as image:
        assert image.info["icc_profile"] == profile
        assert np.array_equal(np.asarray(image), view[..., [2, 1, 0, 3]])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("crop", [False, True])
def test_a_cut_outs_layers_make_the_bytes_of_its_bgra_stack(
    threads: int, crop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer stacks Layers a few rows at a time: the file is byte for byte the one its BGRA
    array makes (transparent pixels colourless), a crop's strided views included."""
    monkeypatch.setattr(png, "BAND_BYTES", 64 * 1024)  # several bands
    bgr, mask = scene(480, 360, seed=6)
    bgr[mask == 0] = 200  # colour under the transparent pixels, which neither form may write
    if crop:
        bgr, mask = bgr[30:400, 17:333], mask[30:400, 17:333]
    layers = Layers(bgr, mask)
    stacked = to_bgra(bgr, mask)

    data = encode_png(layers, 1, threads=threads)

    assert data == encode_png(stacked, 1, threads=threads)
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back[..., 3], mask) and not back[mask == 0].any()


def test_layers_are_written_without_their_whole_bgra_stack() -> None:
    """A 12 MP cut-out's BGRA array is 48 MiB of fresh pages; the writer's working copies of
    Layers stay a few hundred KiB per thread whatever the size, beside the file (held twice: the
    deflated bands and their join)."""
    bgr, mask = scene(1500, 1000, seed=7)  # its BGRA stack: 6 MB
    tracemalloc.start()
    try:
        data = encode_png(Layers(bgr, mask), 1, threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(data) + 2_000_000 < mask.size * 4
