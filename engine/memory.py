"""How much memory one image needs, estimated from its header before a pixel is decoded, and the
budget it must fit in (`EngineSettings.memory_budget_mb`: ENGINE_MEMORY_BUDGET_MB, or a share of
the Lambda function's memory).

A Lambda function that outgrows its memory is killed without a word: no failure record, and the
event is retried until it lands in the dead-letter queue. An image whose estimate does not fit is
therefore refused with `MemoryBudgetError` (an `ImageTooLargeError`: permanent, recorded) first.

The estimate is the process's resident memory now (the runtime, the libraries, the model and its
inference arena; before the model's first run, the arena that run will allocate, as its manifest
states it) plus the largest of the pipeline's three peaks, each a sum of the arrays alive at that
moment, in bytes per pixel:

  decode   the input file; OpenCV's JPEG decoder (it holds its result twice) or Pillow's image
           (PILLOW_BYTES_PER_PIXEL by mode, twice in case EXIF turns it) and our BGR + alpha
  compose  the input file; BGR (3), the input's alpha (1, if any), the matte (1), the coverage its
           colours are unmixed with (1), the refine and edge-colour temporaries (1) and the output
           pixels (OUTPUT_PIXELS)
  encode   the input file; what the pipeline still holds (HELD_WHILE_ENCODING: the output
           pixels, or the frame or matte they are a view of, and a crop's contiguous copy; the
           frame and the matte are freed first otherwise), the encoded file, held twice (the
           encoder's buffer and its bytes) and counted at its largest: the raw pixels
           (ENCODED_AT_MOST; a PNG of noise does not compress), and the encoder's own working
           memory (formats.OutputFormat.encoder_bytes_per_pixel: 0 for PNG, the codec's pictures
           for WebP, JPEG and AVIF)
  placed   with a canvas (placement.py), compose also holds the canvas's pixels (PLACED: the
           placed colours and matte, a resize's result, the BGRA output) and a `roi` its region's
           copy (ROI_COPY); encode counts the output at the larger of the frame and the canvas

`python -m reliability.memory` measures the real peaks (the worker under the emulator) beside these
estimates; tests/integration/test_memory.py checks that the estimate is never below the peak.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from .errors import MemoryBudgetError
from .options import Options, OutputMode

MIB = 1 << 20
DECODED_BGR = 3  # bytes per pixel of the decoded BGR pixels
ALPHA = 1  # of an alpha channel or the matte
COVERAGE = 1  # the soft coverage the edge colours are unmixed with (engine.refine.Matte), beside the matte
WORKING = 1  # refine's and the edge colours' temporaries (measured under 1 at 64 MP)
OPENCV_JPEG = 2 * DECODED_BGR  # cv2.imdecode's result and its copy into a numpy array
# the output array: BGRA (at PNG levels 0-3 the cut-out stays in the frame and matte, layers.py, so
# this is an upper bound there); a background is flattened into the frame in place; the matte itself
OUTPUT_PIXELS = {"cutout": 4, "background": 0, "mask": 0}
ENCODED_AT_MOST = {"cutout": 4, "background": 3, "mask": 1}
HELD_WHILE_ENCODING = {"cutout": 4, "background": DECODED_BGR, "mask": ALPHA}  # BGRA; the frame; the matte
PLACED = {"cutout": DECODED_BGR + ALPHA + DECODED_BGR + 4, "background": 2 * DECODED_BGR + ALPHA, "mask": 2 * ALPHA}
ROI_COPY = DECODED_BGR + ALPHA  # the region's contiguous colours and its matte, at most the frame's size
# band temporaries, allocator slack, the first photo's lazily loaded code (at 32 a fresh worker's
# first 1 MP photo peaked 1 MiB over its estimate)
SLACK_MB = 40
_STATM = Path("/proc/self/statm")


def pillow_bytes_per_pixel(mode: str) -> int:
    """What Pillow holds per pixel for an image of this mode (every multi-band 8-bit mode takes 4)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _kind(options: Options) -> str:
    if options.output is OutputMode.MASK:
        return "mask"
    return "background" if options.background is not None else "cutout"


def working_mb(header: Image.Image, input_bytes: int, options: Options, opencv_jpeg: bool) -> float:
    """Peak memory (MiB) that cutting out this image needs on top of what the process holds:
    `header` is the opened (not decoded) image, `opencv_jpeg` whether OpenCV will decode it."""
    width, height = header.size
    has_alpha = header.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in header.info
    alpha = ALPHA if has_alpha else 0
    if opencv_jpeg:
        decode = OPENCV_JPEG
    else:
        decode = 2 * pillow_bytes_per_pixel(header.mode) + DECODED_BGR + alpha
    kind = _kind(options)
    encoder = options.output_format.encoder_bytes_per_pixel
    pixels, canvas = width * height, canvas_pixels(options, width, height)
    roi = ROI_COPY if options.roi is not None else 0
    compose = (DECODED_BGR + alpha + ALPHA + COVERAGE + WORKING + roi) * pixels
    compose += PLACED[kind] * canvas if options.places else OUTPUT_PIXELS[kind] * pixels
    cropped_copy = ENCODED_AT_MOST[kind] if options.crop and kind != "cutout" and not options.places else 0
    encode = (HELD_WHILE_ENCODING[kind] + cropped_copy + 2 * ENCODED_AT_MOST[kind] + encoder) * max(pixels, canvas)
    return (input_bytes + max(decode * pixels, compose, encode)) / MIB + SLACK_MB


def canvas_pixels(options: Options, width: int, height: int) -> int:
    """The output's pixels when the subject is placed: the canvas, or at most the frame; 0 otherwise."""
    if not options.places:
        return 0
    return options.canvas.pixels if options.canvas else width * height


def resident_mb() -> float:
    """This process's resident memory now (MiB); 0 where /proc is not available."""
    try:
        return int(_STATM.read_text().split()[1]) * 4096 / MIB
    except (OSError, IndexError, ValueError):
        return 0.0


def check_budget(
    header: Image.Image,
    input_bytes: int,
    options: Options,
    opencv_jpeg: bool,
    budget_mb: float,
    pending_mb: float = 0.0,
) -> None:
    """Refuse (MemoryBudgetError) an image whose estimated peak would exceed `budget_mb`;
    `pending_mb` is what the model's first run will still allocate (model.Model.pending_arena_mb)."""
    held = resident_mb() + pending_mb
    needed = working_mb(header, input_bytes, options, opencv_jpeg)
    if held + needed > budget_mb:
        width, height = header.size
        raise MemoryBudgetError(
            f"image is {width}x{height} ({width * height / 1e6:.1f} MP): with these options it needs about "
            f"{held + needed:.0f} MiB, over this function's {budget_mb:.0f} MiB memory budget; send a smaller "
            "image (output=mask needs the least)"
        )
