"""The public API end to end: bytes in, a PNG a user would accept out."""

from __future__ import annotations

import io
import shutil
import struct
import tracemalloc
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

import engine
from engine import EngineSettings, Options, OutputMode
from engine.decode import decodes_with_opencv
from engine.layers import to_bgra
from engine.memory import resident_mb, working_mb
from reliability.corpus import png_bomb
from tests.synthetic import encode, scene


def _decode(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _iou(alpha: np.ndarray, mask: np.ndarray) -> float:
    a, m = alpha >= 128, mask >= 128
    return float((a & m).sum() / (a | m).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cutout_of_a_generated_scene_matches_its_ground_truth(seed: int) -> None:
    bgr, mask = scene(seed=seed)
    cutout = engine.remove_background(encode(bgr, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
    image = _decode(cutout.data)
    assert image.mode == "RGBA" and image.size == (640, 480)
    alpha = np.asarray(image)[:, :, 3]
    assert _iou(alpha, mask) >= 0.95
    assert np.abs(alpha / 255 - mask / 255).mean() <= 0.02
    assert 0.15 <= cutout.foreground <= 0.40
    assert np.asarray(image)[alpha == 0].max() == 0  # transparent pixels carry no colour


def test_result_carries_sizes_timings_scores_and_model() -> None:
    bgr, _ = scene(320, 240, seed=4)
    cutout = engine.remove_background(encode(bgr, ".png"))
    assert (cutout.width, cutout.height, cutout.source_width, cutout.source_height) == (320, 240, 320, 240)
    assert cutout.model_id == engine.settings().model
    assert 0.0 <= cutout.uncertainty <= 0.2
    t = cutout.timings
    assert min(t.decode, t.infer, t.refine, t.encode) > 0 and t.as_dict()["total_ms"] >= t.infer
    assert cutout.media_type == "image/png" and cutout.megapixels == pytest.approx(0.0768)


def test_mask_output_is_a_grayscale_matte() -> None:
    bgr, mask = scene(seed=1)
    image = _decode(engine.remove_background(encode(bgr), Options(output=OutputMode.MASK)).data)
    assert image.mode == "L" and image.size == (640, 480)
    assert _iou(np.asarray(image), mask) >= 0.95


def test_the_default_and_soft_edges_keep_the_softness_of_a_soft_edge_on_a_smooth_background() -> None:
    """An orange subject whose rim is a 4 px blur, on a smooth blue-grey background: the default
    edge, like the soft one, is as wide as the photo's (within 30 %) and within 0.05 of the truth
    over the rim (where colours separate on a smooth background the default is the soft style)."""
    rng = np.random.default_rng(5)
    truth = cv2.GaussianBlur(
        cv2.ellipse(np.zeros((600, 800), np.float32), ((400, 310), (420, 340), 0), 1.0, -1), (0, 0), 4
    )
    background = np.float32([150, 110, 90]) + cv2.GaussianBlur(
        rng.normal(0, 60, (600, 800, 3)).astype(np.float32), (0, 0), 8
    )
    photo = truth[:, :, None] * np.float32([40, 130, 230]) + (1 - truth[:, :, None]) * background
    data = encode(np.clip(photo, 0, 255).astype(np.uint8), ".png")
    rim = (truth > 0.03) & (truth < 0.97)
    alphas = {
        soft: np.asarray(_decode(engine.remove_background(data, Options(output=OutputMode.MASK, soft_edges=soft)).data))
        for soft in (False, True)
    }
    width = {soft: np.count_nonzero((a > 8) & (a < 247)) for soft, a in alphas.items()}
    for soft in (False, True):
        assert width[soft] == pytest.approx(np.count_nonzero(rim), rel=0.3)
        assert np.abs(alphas[soft][rim] / 255 - truth[rim]).mean() < 0.05
    crisp = np.asarray(_decode(engine.remove_background(data, Options(output=OutputMode.MASK, crisp_edges=True)).data))
    assert np.count_nonzero((crisp > 8) & (crisp < 247)) < 0.7 * np.count_nonzero(rim)  # the way back: a firm contour


def test_crop_keeps_the_subject_with_a_margin() -> None:
    bgr, mask = scene(seed=2)
    ys, xs = np.nonzero(mask)
    cutout = engine.remove_background(encode(bgr), Options(crop=True, crop_margin=0.1))
    subject_w, subject_h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert subject_w < cutout.width < 640 and subject_h < cutout.height < 480
    alpha = np.asarray(_decode(cutout.data))[:, :, 3]
    assert alpha[0].max() < 128 and alpha[-1].max() < 128  # margin rows are background
    assert alpha[cutout.height // 2, cutout.width // 2] > 240


@pytest.mark.parametrize("white", [(255, 255, 255), "#ffffff", "FFFFFF", "255,255,255"])
def test_solid_background_colour_gives_an_opaque_rgb_png(white: tuple[int, int, int] | str) -> None:
    bgr, mask = scene(seed=0)
    image = _decode(engine.remove_background(encode(bgr), Options(background=white)).data)  # as the CLI and API
    assert image.mode == "RGB"
    pixels = np.asarray(image)
    assert (pixels[5, 5] >= 250).all() and (pixels[-5, -5] >= 250).all()
    cy, cx = np.argwhere(mask).mean(axis=0).astype(int)
    assert pixels[cy, cx].min() < 200  # the subject is still there


@pytest.mark.parametrize(("fmt", "frames", "said"), [("GIF", 3, True), ("WEBP", 2, True), ("GIF", 1, False)])
def test_an_animation_is_cut_out_from_its_first_frame_and_says_so(fmt: str, frames: int, said: bool) -> None:
    bgr, _ = scene(seed=0)
    still = Image.fromarray(bgr[:, :, ::-1])
    out = io.BytesIO()
    still.save(out, fmt, save_all=True, append_images=[still.rotate(90 * i) for i in range(1, frames)])
    assert engine.remove_background(out.getvalue()).findings()["first_frame_only"] is said


def test_a_tiff_whose_next_page_pointer_is_broken_is_cut_out_from_its_first_page() -> None:
    """Found by fuzzing bgremove.remove: a one-page TIFF whose next-IFD offset points past its end
    was cut out, then counting its pages raised Pillow's TypeError ("Missing dimensions"), not an
    InputError: the work was lost and the caller's `except bgremove.InputError` missed it. The
    first page is the cut-out, and the finding says the file claims more than that page."""
    bgr, _ = scene(seed=0)
    out = io.BytesIO()
    Image.fromarray(bgr[:, :, ::-1]).save(out, "TIFF")
    data = bytearray(out.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    next_ifd = ifd + 2 + 12 * struct.unpack_from("<H", data, ifd)[0]
    struct.pack_into("<I", data, next_ifd, len(data) + 1000)
    cutout = engine.remove_background(bytes(data))
    assert (cutout.width, cutout.height) == (bgr.shape[1], bgr.shape[0])
    assert cutout.findings()["first_frame_only"] is True


def test_existing_transparency_is_combined_with_the_prediction() -> None:
    bgr, _ = scene(seed=0)
    rgba = np.dstack([bgr[:, :, ::-1], np.full(bgr.shape[:2], 255, np.uint8)])
    rgba[:, :320, 3] = 0  # the left half was already cut away
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG")
    alpha = np.asarray(_decode(engine.remove_background(buffer.getvalue()).data))[:, :, 3]
    assert alpha[:, :320].max() == 0 and alpha[:, 320:].max() == 255


def test_icc_profile_is_carried_into_the_png() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    bgr, _ = scene(160, 120, seed=1)
    buffer = io.BytesIO()
    Image.fromarray(bgr[:, :, ::-1]).save(buffer, "JPEG", icc_profile=profile)
    assert _decode(engine.remove_background(buffer.getvalue()).data).info.get("icc_profile") == profile


def test_fp32_model_is_selectable_per_call() -> None:
    bgr, mask = scene(seed=3)
    cutout = engine.remove_background(encode(bgr), Options(model="u2netp", output=OutputMode.MASK))
    assert cutout.model_id == "u2netp"
    assert _iou(np.asarray(_decode(cutout.data)), mask) >= 0.95


def test_bad_input_raises_typed_errors() -> None:
    with pytest.raises(engine.EmptyInputError):
        engine.remove_background(b"")
    with pytest.raises(engine.UnsupportedFormatError):
        engine.remove_background(b"<html><body>not an image</body></html>")
    with pytest.raises(engine.CorruptImageError):
        engine.remove_background(encode(scene(seed=0)[0], ".png")[:3000])


def test_a_callers_unknown_model_is_an_invalid_option_naming_the_installed_ones() -> None:
    with pytest.raises(engine.UnknownModelError, match="no-such-model") as raised:
        engine.remove_background(encode(scene(seed=0)[0]), Options(model="no-such-model"))
    assert isinstance(raised.value, engine.InvalidOptionError) and raised.value.code == "unknown_model"
    assert "must be one of " in str(raised.value) and "u2netp-int8" in str(raised.value)


def test_the_configured_model_missing_is_a_broken_deployment() -> None:
    config = replace(engine.settings(), model="no-such-model")
    with pytest.raises(engine.ModelNotFoundError) as raised:
        engine.remove_background(encode(scene(seed=0)[0]), config=config)
    assert isinstance(raised.value, engine.DeploymentError)


def test_an_image_over_the_memory_budget_is_refused_before_it_is_decoded() -> None:
    """A 60 MP PNG header on a few bytes of data: decoding it would say corrupt; the budget
    refuses it first, from its header, as an image too large for this function."""
    bomb = png_bomb(10_000, 6_000)
    with pytest.raises(engine.CorruptImageError):
        engine.remove_background(bomb)  # no budget: it gets as far as decoding
    config = replace(engine.settings(), memory_budget_mb=resident_mb() + 512)  # 512 MiB for one image
    with pytest.raises(engine.MemoryBudgetError, match=r"10000x6000 \(60.0 MP\).*MiB memory budget") as raised:
        engine.remove_background(bomb, config=config)
    assert isinstance(raised.value, engine.ImageTooLargeError) and raised.value.code == "over_memory_budget"
    small = encode(scene(320, 240, seed=1)[0])
    assert engine.remove_background(small, config=config).width == 320


def test_the_first_photo_of_a_model_counts_the_arena_its_run_will_allocate(tmp_path: Path) -> None:
    """The model is not run when it loads: the first photo allocates ONNX Runtime's arena (about
    130 MiB), so the budget counts it for that photo and not for the next."""
    config = engine.settings()
    for suffix in (".json", ".onnx"):
        shutil.copy(config.model_dir / f"{config.model}{suffix}", tmp_path / f"{config.model}{suffix}")
    model = engine.load_model(replace(config, model_dir=tmp_path))
    arena = model.pending_arena_mb
    data = encode(scene(320, 240, seed=2)[0])
    with Image.open(io.BytesIO(data)) as header:
        needed = working_mb(header, len(data), Options(), decodes_with_opencv(header, data))

    def budget() -> EngineSettings:
        return replace(config, model_dir=tmp_path, memory_budget_mb=resident_mb() + needed + arena / 2)

    assert arena > 0
    with pytest.raises(engine.MemoryBudgetError):
        engine.remove_background(data, config=budget())
    model.predict(np.zeros((240, 320, 3), np.uint8))
    assert engine.remove_background(data, config=budget()).width == 320


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (7, 1), (20000, 10), (10, 20000)])
@pytest.mark.parametrize("output", ["cutout", "mask"])
def test_degenerate_shapes_give_a_png_of_the_same_size(size: tuple[int, int], output: str) -> None:
    data = encode(np.full((size[1], size[0], 3), (30, 30, 200), np.uint8), ".png")
    result = engine.remove_background(data, Options(output=OutputMode(output)))
    with _decode(result.data) as image:
        assert image.size == size and image.mode == ("RGBA" if output == "cutout" else "L")


@pytest.mark.parametrize("size", [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize(
    ("placement", "canvas"),
    [({"crop": True}, None), ({"canvas": "64x64"}, (64, 64)), ({"canvas": "64x32", "scale": "0.8"}, (64, 32))],
)
def test_degenerate_shapes_can_be_cropped_and_placed(
    size: tuple[int, int], placement: dict[str, object], canvas: tuple[int, int] | None
) -> None:
    """A 1x1 spacer GIF in a scraped folder raised OpenCV's error (a 1x1 array read as a scalar) and
    ended the batch, with --crop or any canvas (`prep`'s default)."""
    data = encode(np.full((size[1], size[0], 3), (30, 30, 200), np.uint8), ".png")
    cutout = engine.cut_out(data, **placement)
    with _decode(cutout.data) as image:
        assert image.mode == "RGBA" and (canvas is None or image.size == canvas)


def _traced_peak(data: bytes, options: Options) -> int:
    """Peak bytes numpy and OpenCV's Python outputs held while one image was cut out."""
    engine.load_model(engine.settings())  # the model is loaded outside the measurement
    tracemalloc.start()
    try:
        engine.remove_background(data, options)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("crop", [False, True])
def test_a_background_colour_needs_no_more_memory_than_transparency(crop: bool) -> None:
    """flatten used to composite the whole frame in float32 (40 bytes a pixel): a 48 MP photo
    then needed 2.3 GB. An RGB result is smaller than an RGBA one, and so must be its peak."""
    data = encode(cv2.resize(scene(320, 240, seed=5)[0], (1000, 750)))
    transparent = _traced_peak(data, Options(crop=crop))
    flattened = _traced_peak(data, Options(crop=crop, background=(255, 255, 255)))
    assert flattened <= transparent + 2**16, (flattened / 0.75e6, transparent / 0.75e6)  # (+ Python's small change)


@pytest.mark.parametrize(
    ("size", "colour"),
    [((1, 1), (90, 120, 150)), ((320, 240), (90, 120, 150)), ((200, 200), (255, 0, 255)), ((200, 200), (128, 0, 128))],
)
def test_an_image_without_a_subject_is_flagged(size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """A uniform image or a 1x1 file came back "ok" and fully transparent, with nothing to tell it apart;
    a plain magenta or purple one came back with 72 % of it as the subject."""
    uniform = encode(np.full((size[1], size[0], 3), colour, np.uint8), ".png")
    cutout = engine.remove_background(uniform)
    assert cutout.no_subject and cutout.findings()["no_subject"] is True
    assert not engine.remove_background(encode(scene(320, 240, seed=0)[0])).no_subject


def test_findings_are_the_per_image_values_every_entry_point_carries() -> None:
    cutout = engine.remove_background(encode(scene(320, 240, seed=4)[0]))
    findings = cutout.findings()
    assert set(findings) >= {"uncertainty", "foreground", "no_subject"}
    assert findings["uncertainty"] == round(cutout.uncertainty, 4) and findings["no_subject"] is False
    assert engine.finding_text(True) == "true" and engine.finding_text(0.123456) == "0.1235"


@pytest.mark.parametrize("box", [(0, 0, 0, 0), (3, 5, 9, 4), (0, 0, 16, 12)])
def test_bgra_keeps_visible_colours_and_clears_transparent_ones(box: tuple[int, int, int, int]) -> None:
    """to_bgra writes only the box around the visible pixels; inside and outside it, a pixel is
    its colour and alpha where visible and all zero where alpha is 0."""
    rng = np.random.default_rng(5)
    bgr = rng.integers(1, 256, (12, 16, 3), dtype=np.uint8)
    alpha = np.zeros((12, 16), np.uint8)
    x, y, w, h = box
    alpha[y : y + h, x : x + w] = rng.integers(0, 256, (h, w), dtype=np.uint8)
    expected = np.dstack([bgr, alpha])
    expected[alpha == 0] = 0
    np.testing.assert_array_equal(to_bgra(bgr, alpha), expected)


def _pillow_blocks() -> int:
    """Blocks of image memory Pillow holds now."""
    stats = Image.core.get_stats()
    return int(stats["allocated_blocks"] - stats["freed_blocks"])


@pytest.mark.parametrize("level", [1, 9])
def test_the_opened_input_holds_no_pixels_while_the_cut_out_is_encoded(
    monkeypatch: pytest.MonkeyPatch, level: int
) -> None:
    """A photo Pillow decodes (PNG, TIFF, WebP, HEIC, ...) kept its pixels in the opened image to the
    end of the cut-out, a copy the memory estimate does not count: at 64 MP an RGBA-16 TIFF at
    compress_level 9 peaked at 1325 MiB in a fresh worker against an estimate of 1142 (make memory).
    When the encoder starts, Pillow holds no more image memory than before the photo was opened."""
    import engine.options as options_module  # noqa: PLC0415 - its output_format is spied on

    live_at_encode: list[int] = []
    real = options_module.output_format

    def spied(name: str) -> engine.OutputFormat:
        chosen = real(name)

        def encode(*args: object, **kwargs: object) -> bytes:
            live_at_encode.append(_pillow_blocks())
            return chosen.encode(*args, **kwargs)

        return replace(chosen, encode=encode)

    monkeypatch.setattr(options_module, "output_format", spied)
    bgr = cv2.resize(scene(320, 240, seed=5)[0], (1000, 750))
    data = encode(np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)]), ".png")  # RGBA: Pillow decodes it
    before = _pillow_blocks()
    cutout = engine.remove_background(data, Options(compress_level=level))
    assert cutout.width == 1000 and live_at_encode == [before]
