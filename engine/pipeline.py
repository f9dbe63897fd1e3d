"""The pipeline: decode -> infer -> refine -> compose -> encode, timed per stage (`StageTimings`)."""

from __future__ import annotations

import time
from dataclasses import replace

import cv2
import numpy as np

from .decode import decode_opened, decodes_with_opencv, has_more_frames, open_image
from .errors import InvalidOptionError, ModelNotFoundError, UnknownModelError
from .layers import Layers
from .manifest import installed_models
from .memory import check_budget
from .model import Model, Prediction, get_model
from .options import Options, OutputMode
from .placement import Box, Pixels, Roi, box_of, layout, place
from .profiles import for_output, srgb_in
from .quality import measure
from .refine import Matte, decontaminate, refine_matte
from .result import Cutout, StageTimings
from .settings import EngineSettings, settings
from .subject import inspect

_CLEAR_LOW, _CLEAR_HIGH = 26, 229  # alpha outside (10 %, 90 %) counts as a confident decision
_STATS_STRIDE = 4  # matte statistics on every 4th row and column are exact enough and 16x cheaper
# The model's peak response under this (uniform images score < 0.1, and a flat input counts as 0:
# model.is_flat; photos ~1): no subject, and the cut-out is written fully transparent, as the
# finding says. Min-max normalisation stretches such a flat map into specks and haze. Chosen on the
# training photos (train, extra/davis, every 4th of extra/people: 432): the 6 maps that peaked under
# 0.19 all missed their subject (IoU with the true mask at most 0.005); the next, at 0.36, found a
# fifth of it (IoU 0.21), so it is still written.
NO_SUBJECT_PEAK = 0.25
FLATTEN_BAND_PIXELS = 1 << 16  # composited per step onto a background colour: float temporaries under 2 MiB


def remove_background(data: bytes, options: Options | None = None, config: EngineSettings | None = None) -> Cutout:
    """Cut the subject out of an encoded image and return it, encoded in the options' format,
    with timings and scores.

    Raises an `InputError` subclass for bad input and a `ModelError` for a broken deployment.
    """
    options = options or Options()
    config = config or settings()
    model = load_model(config, options.model)

    start = time.perf_counter()
    header = open_image(data, config.max_megapixels)
    if config.memory_budget_mb is not None:  # before a single pixel is decoded
        opencv_jpeg = decodes_with_opencv(header, data)
        check_budget(header, len(data), options, opencv_jpeg, config.memory_budget_mb, model.pending_arena_mb)
    decoded = decode_opened(header, data, options.max_pixels)
    first_frame_only = has_more_frames(header)
    header.close()  # the pixels Pillow decoded into it (PNG, TIFF, WebP, HEIC...): a copy no estimate counts
    decoded_at = time.perf_counter()
    region = _region(options.roi, decoded.width, decoded.height) if options.roi else None
    searched = (
        decoded.bgr
        if region is None
        else np.ascontiguousarray(decoded.bgr[region[1] : region[3], region[0] : region[2]])
    )
    prediction = model.infer(searched)
    pred = prediction.map
    inferred_at = time.perf_counter()
    matte = _matte(prediction, searched, options)
    del searched
    alpha, coverage = matte.alpha, matte.coverage  # colours are unmixed with the coverage: no rim
    if region is not None:  # the matte of the region, on a transparent frame
        same = coverage is alpha
        alpha = _on_frame(alpha, region, decoded.width, decoded.height)
        coverage = alpha if same else _on_frame(coverage, region, decoded.width, decoded.height)
    if decoded.alpha is not None:  # keep transparency the input already had
        alpha = cv2.multiply(alpha, decoded.alpha, scale=1 / 255)
    refined_at = time.perf_counter()
    if options.background is not None and decoded.icc_profile:  # the caller's sRGB colour, in the photo's space
        options = replace(options, background=srgb_in(decoded.icc_profile, options.background))
    if options.places:
        pixels = _placed(decoded.bgr, alpha, options, coverage)
    else:
        box = subject_box(alpha, options.crop_margin) if options.crop else None
        pixels = _compose(decoded.bgr, alpha, options, box, coverage)
    output = options.output_format
    if isinstance(pixels, Layers) and not output.takes_layers(options.compress_level):
        pixels = pixels.stacked()  # before the frame is freed: the encoder's peak holds one copy
    composed_at = time.perf_counter()
    sample = alpha[::_STATS_STRIDE, ::_STATS_STRIDE].copy()
    uncertainty = float(np.count_nonzero((sample > _CLEAR_LOW) & (sample < _CLEAR_HIGH)) / sample.size)
    no_subject = int(alpha.max(initial=0)) < 128  # what is written: no pixel even half opaque
    subject = inspect(alpha, _STATS_STRIDE)
    output.check_size(int(pixels.shape[1]), int(pixels.shape[0]))
    channels = 1 if pixels.ndim == 2 else int(pixels.shape[2])
    icc_profile, source_width, source_height = for_output(decoded.icc_profile, channels), decoded.width, decoded.height
    del decoded, alpha, coverage, matte  # frame and mattes freed while the encoder works, unless the pixels view them
    data = output.encode(pixels, options.compress_level, options.encode_quality, icc_profile, threads=config.threads)
    encoded_at = time.perf_counter()

    features = measure(pred, prediction.peak, uncertainty, prediction.sides)
    return Cutout(
        data=data,
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        source_width=source_width,
        source_height=source_height,
        model_id=model.id,
        uncertainty=uncertainty,
        foreground=float(np.count_nonzero(sample >= 128) / sample.size),
        no_subject=no_subject,
        several_subjects=subject.several_subjects,
        subject_cut=subject.subject_cut,
        small_subject=subject.small_subject,
        estimated_error=model.manifest.error_model.estimate(features),
        first_frame_only=first_frame_only,
        quality_features=features,
        timings=StageTimings(
            decode=(decoded_at - start) * 1000,
            infer=(inferred_at - decoded_at) * 1000,
            refine=(refined_at - inferred_at) * 1000,
            compose=(composed_at - refined_at) * 1000,
            encode=(encoded_at - composed_at) * 1000,
        ),
        format=output,
    )


def load_model(config: EngineSettings, model_id: str | None = None) -> Model:
    """The model a caller asked for (`model_id`), or the configured one, loaded and ready.

    A caller's id that this deployment does not have raises UnknownModelError (an invalid option,
    naming the ids it has); the configured model missing raises ModelNotFoundError (a broken
    deployment). Entry points call this at start-up, so the latter fails their cold start.
    """
    try:
        return get_model(model_id or config.model, config.model_dir, config.threads)
    except ModelNotFoundError:
        if not model_id or model_id == config.model:
            raise
        raise _unknown_model(config, model_id) from None


def recorded_recipe(options: Options, config: EngineSettings) -> str:
    """What a cut-out made now with `options` records (`Options.recorded_recipe`): the options, the
    model resolved and its weights, the sha256 its manifest names, which the file this process
    loaded was checked against (`get_model`, once per process): nothing is hashed for the recipe."""
    model = load_model(config, options.model)
    return options.recorded_recipe(config.model, model.manifest.sha256)


def check_model(config: EngineSettings, model_id: str | None) -> None:
    """UnknownModelError when a caller asks for a model this deployment does not have, without
    loading it (for a route that only hands the request on, as POST /uploads does)."""
    if model_id and model_id != config.model and model_id not in installed_models(config.model_dir):
        raise _unknown_model(config, model_id)


def _unknown_model(config: EngineSettings, model_id: str) -> UnknownModelError:
    known = ", ".join(installed_models(config.model_dir)) or "none"
    return UnknownModelError(f"model must be one of {known}, got {model_id!r}")


def _region(roi: Roi, width: int, height: int) -> Box:
    """The roi's pixels in this frame; InvalidOptionError when nothing of it lies in the frame."""
    x0, y0, x1, y1 = roi.box(width, height)
    if x1 <= x0 or y1 <= y0:
        raise InvalidOptionError(f"roi {roi} holds no pixel of this {width}x{height} image")
    return x0, y0, x1, y1


def _matte(prediction: Prediction, bgr: np.ndarray, options: Options) -> Matte:
    """The full-resolution matte (HxW of `bgr`) of the model's map: empty when it found no subject."""
    height, width = bgr.shape[:2]
    if prediction.peak < NO_SUBJECT_PEAK:
        empty = np.zeros((height, width), np.uint8)
        return Matte(empty, empty)
    if options.refine:
        return refine_matte(prediction.map, bgr, soft=options.soft_edges, crisp=options.crisp_edges)
    upsampled = _upsample(prediction.map, width, height)
    return Matte(upsampled, upsampled)


def _on_frame(alpha: np.ndarray, region: Box, width: int, height: int) -> np.ndarray:
    """A region's matte on a transparent frame of `width` x `height`."""
    frame = np.zeros((height, width), np.uint8)
    frame[region[1] : region[3], region[0] : region[2]] = alpha
    return frame


def _placed(bgr: np.ndarray, alpha: np.ndarray, options: Options, coverage: np.ndarray) -> np.ndarray | Layers:
    """The output pixels with the subject placed on the canvas (placement.py); an empty canvas
    when there is no subject. Colours unmixed with `coverage` in place, then resampled once."""
    if options.output is not OutputMode.MASK and options.decontaminate:
        bgr = decontaminate(bgr, coverage, in_place=True)
    height, width = alpha.shape
    subject = box_of(alpha)  # the one pass over the whole matte
    frame = (grown(subject, options.crop_margin, alpha.shape) if options.crop else None) or (0, 0, width, height)
    margin = options.crop_margin if options.crop else 0.0
    if subject is None:  # nothing to place: the canvas alone
        subject, alpha = frame, np.zeros_like(alpha)
    at = layout(subject, frame, options.canvas, options.scale, options.position, margin)
    placed = place(alpha, at, cv2.INTER_LINEAR)
    if options.output is OutputMode.MASK:
        return placed
    colours = place(bgr, at)
    if options.background is not None:
        return flatten(colours, placed, options.background, out=colours)
    return Layers(colours, placed)


def _upsample(pred: np.ndarray, width: int, height: int) -> np.ndarray:
    alpha: np.ndarray = cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


def subject_box(alpha: np.ndarray, margin: float | Pixels) -> Box | None:
    """Bounding box of the subject (placement.box_of), grown by `margin` of its longer side (or by
    as many Pixels) and clamped to the image; None when there is no subject."""
    return grown(box_of(alpha), margin, alpha.shape)


def grown(box: Box | None, margin: float | Pixels, shape: tuple[int, ...]) -> Box | None:
    """`box` grown by `margin` of its longer side (or by as many Pixels), clamped to `shape` (HxW)."""
    if box is None:
        return None
    x0, y0, x1, y1 = box
    pad = margin if isinstance(margin, Pixels) else round(margin * max(x1 - x0, y1 - y0))
    return max(0, x0 - pad), max(0, y0 - pad), min(shape[1], x1 + pad), min(shape[0], y1 + pad)


def _compose(
    bgr: np.ndarray, alpha: np.ndarray, options: Options, box: Box | None, coverage: np.ndarray
) -> np.ndarray | Layers:
    """The output pixels, colours unmixed with `coverage`. The decoded pixels are this call's own:
    the edge colours and a background are written into them in place, a crop is a view, and a
    transparent cut-out stays two planes (layers.py), so no full-size copy is made here."""
    if options.output is not OutputMode.MASK and options.decontaminate:
        bgr = decontaminate(bgr, coverage, in_place=True, shown=alpha)  # whole frame: a crop view is not C-ordered
    if box is not None:
        x0, y0, x1, y1 = box
        bgr, alpha = bgr[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    if options.output is OutputMode.MASK:
        return np.ascontiguousarray(alpha)
    if options.background is not None:
        return flatten(bgr, alpha, options.background, out=bgr)
    return Layers(bgr, alpha)


def flatten(bgr: np.ndarray, alpha: np.ndarray, rgb: tuple[int, int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Composite the foreground over a solid colour (given as RGB): colour + alpha * (bgr - colour),
    rounded. Computed in bands of rows of about `FLATTEN_BAND_PIXELS`, so its temporaries stay
    small at any size; `out` (HxWx3 uint8, `bgr` itself allowed) receives the result."""
    out = np.empty_like(bgr) if out is None else out
    colour = np.array(rgb[::-1], dtype=np.float32)
    step = max(1, FLATTEN_BAND_PIXELS // max(1, alpha.shape[1]))
    for y0 in range(0, alpha.shape[0], step):
        rows = slice(y0, y0 + step)
        a = cv2.cvtColor(alpha[rows], cv2.COLOR_GRAY2BGR).astype(np.float32)
        band = bgr[rows].astype(np.float32)
        band -= colour
        band *= a
        band *= 1 / 255
        band += colour + 0.5
        np.copyto(out[rows], np.clip(band, 0, 255, out=band), casting="unsafe")  # truncation of x + 0.5
    return out
