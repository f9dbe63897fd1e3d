"""Peak memory of the worker per option and input: `python -m reliability.memory` (make memory).

The S3 worker runs under the Lambda emulator with the template's MemorySize (so its memory
budget, engine/memory.py, is the deployed one); each input is uploaded to the local S3 and sent
as an S3 Batch Operations task whose user arguments are the options. The runtime's VmHWM is reset
before each image (the emulator enforces no memory limit, so the peak is read, not survived) and
printed beside the engine's estimate and the function's memory. Inputs are generated into a
temporary folder: a photo (with sensor noise, so its PNG is as large as a real photo's) at each
size, and 16-bit gray, 16-bit RGBA and float TIFFs at the largest.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine import Options
from engine.decode import decodes_with_opencv, open_image
from engine.manifest import load_manifest
from engine.memory import working_mb
from engine.settings import DEFAULT_MODEL, MODELS_DIR
from local.deployment import LocalDeployment
from local.emulator import LambdaEmulator
from local.events import batch_job_event
from local.processes import peak_rss_mb, reset_peak_rss, rss_mb
from local.samples import SAMPLES_DIR, put_object

OPTIONS = {
    "default": {},
    "crop": {"crop": "true"},
    "mask": {"output": "mask"},
    "background": {"background": "ffffff"},
    "compress 9": {"compress_level": "9"},
    "webp": {"format": "webp"},
    "avif": {"format": "avif"},
}
SIZES_MP = (12, 48, 64)
PARAMETERS = {"Timeout": "900"}
_BAND_ROWS = 512


def _size(megapixels: float) -> tuple[int, int]:
    """(width, height) of a 4:3 image of at most this many megapixels (so 64 is within the cap)."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    return width, int(megapixels * 1e6 / width)


def _photo_bgr(megapixels: float, noise: int) -> np.ndarray:
    """The astronaut sample enlarged, with uniform noise of +-`noise` added band by band."""
    width, height = _size(megapixels)
    bgr = cv2.resize(cv2.imread(str(SAMPLES_DIR / "astronaut.jpg")), (width, height), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    for y in range(0, height, _BAND_ROWS) if noise else ():
        band = bgr[y : y + _BAND_ROWS]
        jitter = rng.integers(-noise, noise + 1, band.shape, dtype=np.int16)
        band[:] = np.clip(band + jitter, 0, 255).astype(np.uint8)
    return bgr


def _encode(suffix: str, pixels: np.ndarray, *params: int) -> bytes:
    ok, buffer = cv2.imencode(suffix, pixels, list(params))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {suffix} of shape {pixels.shape}")
    return bytes(buffer.tobytes())


def photo_jpeg(megapixels: float, quality: int = 90) -> bytes:
    """A photo of about `megapixels` as a camera writes it (12 MP at quality 90: about 3 MB)."""
    return _encode(".jpg", _photo_bgr(megapixels, noise=6), cv2.IMWRITE_JPEG_QUALITY, quality)


def _gray(megapixels: float) -> np.ndarray:
    return cv2.cvtColor(_photo_bgr(megapixels, noise=0), cv2.COLOR_BGR2GRAY)


def _save(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", **params)
    return buffer.getvalue()


def tiff_16bit(megapixels: float) -> bytes:
    return _save(Image.fromarray(_gray(megapixels).astype(np.uint16) * 257), compression="tiff_deflate")


def tiff_rgba16(megapixels: float) -> bytes:
    bgr = _photo_bgr(megapixels, noise=0)
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)]).astype(np.uint16) * 257
    return _encode(".tiff", bgra)  # OpenCV writes 16-bit RGBA (LZW); Pillow cannot


def tiff_float(megapixels: float) -> bytes:
    return _save(Image.fromarray(_gray(megapixels).astype(np.float32) / 255, "F"), compression="tiff_deflate")


INPUTS: dict[str, Callable[[float], bytes]] = {
    "JPEG photo": photo_jpeg,
    "16-bit gray TIFF": tiff_16bit,
    "RGBA-16 TIFF": tiff_rgba16,
    "float TIFF": tiff_float,
}


@dataclass(frozen=True)
class Peak:
    """One image through the worker: what it held at most, what the engine expected, the result."""

    input: str
    megapixels: float
    option: str
    baseline_mb: float  # the runtime's RSS before the image
    peak_mb: float  # its VmHWM during the image
    estimate_mb: float  # baseline + the engine's estimate of the image's working memory
    result: str  # the task's result string ("written: ...", "failed: over_memory_budget ...")
    seconds: float  # the invoke's wall time


def measure(
    stack: LocalDeployment,
    worker: LambdaEmulator,
    key: str,
    data: bytes,
    option: str,
    label: str = "",
    first_photo: bool = False,
) -> Peak:
    """Upload `data` under `key` and have the worker cut it out with OPTIONS[option]: after a small
    photo, so that the model has run and holds its arena; or, `first_photo`, as the first photo
    of a fresh worker, which allocates the arena (its manifest's figure is then in the estimate,
    as the engine counts it)."""
    arguments = OPTIONS[option]
    obj = put_object(stack.s3, stack.input_bucket, key, data)
    worker.invoke({"Event": "s3:TestEvent"})  # cold start (the model is loaded at init) before measuring
    pending_mb = _arena_mb(stack) if first_photo else 0.0
    if not first_photo:
        small = put_object(stack.s3, stack.input_bucket, f"{key}-before", _encode(".jpg", _photo_bgr(0.1, noise=0)))
        worker.invoke(batch_job_event([small], {}))
    (pid,) = worker.runtime_pids()
    baseline = rss_mb(pid) or 0.0
    reset_peak_rss(pid)
    invocation = worker.invoke(batch_job_event([obj], arguments))
    response = invocation.payload()
    header = open_image(data, float("inf"))
    estimate = (
        baseline
        + pending_mb
        + working_mb(header, len(data), Options.from_strings(arguments), decodes_with_opencv(header, data))
    )
    width, height = header.size
    return Peak(
        input=label or key,
        megapixels=width * height / 1e6,
        option=option,
        baseline_mb=baseline,
        peak_mb=peak_rss_mb(pid) or 0.0,
        estimate_mb=estimate,
        result=str(response["results"][0]["resultString"]),
        seconds=invocation.wall_ms / 1000,
    )


def _arena_mb(stack: LocalDeployment) -> float:
    """The arena the worker's model allocates on its first run, as its manifest states it."""
    model = load_manifest(stack.variable(stack.s3_function, "ENGINE_MODEL", DEFAULT_MODEL), MODELS_DIR)
    return model.arena_mb or 0.0


def run(sizes: tuple[float, ...], inputs: dict[str, Callable[[float], bytes]], options: list[str]) -> Iterator[Peak]:
    """Every (input at size, option) through one worker with the template's settings."""
    # The template's memory (and so its budget); time enough for compress_level 9 at 64 MP on a slow machine.
    with LocalDeployment(parameters=PARAMETERS) as stack, tempfile.TemporaryDirectory(prefix="memory-") as folder:
        worker = stack.emulator(stack.s3_function)
        prefix = stack.variable(stack.s3_function, "INPUT_PREFIX")
        for name, make in inputs.items():
            for megapixels in sizes if name == "JPEG photo" else sizes[-1:]:
                path = Path(folder) / f"{name.replace(' ', '-')}-{megapixels:g}mp"
                path.write_bytes(make(megapixels))
                for option in options:
                    key = f"{prefix}memory/{path.name}-{option.replace(' ', '-')}"
                    yield measure(stack, worker, key, path.read_bytes(), option, f"{name} {megapixels:g} MP")
                path.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reliability.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_MP)), help="megapixels of the photo, e.g. 12,48,64")
    parser.add_argument("--inputs", default=",".join(INPUTS), help=f"some of: {', '.join(INPUTS)}")
    parser.add_argument("--options", default=",".join(OPTIONS), help=f"some of: {', '.join(OPTIONS)}")
    args = parser.parse_args(argv)
    sizes = tuple(float(s) for s in args.sizes.split(","))
    names, options = args.inputs.split(","), args.options.split(",")
    for kind, given, known in (("input", names, INPUTS), ("option", options, OPTIONS)):
        if unknown := set(given) - set(known):
            parser.error(f"unknown {kind}(s) {', '.join(sorted(unknown))}; some of: {', '.join(known)}")
    inputs = {name: INPUTS[name] for name in names}
    memory = LocalDeployment(parameters=PARAMETERS).configs
    limit = max(config.memory_mb for config in memory.values())
    print(f"peak RSS of the worker under the emulator, MiB (the engine's estimate in brackets); MemorySize {limit} MB")
    print(f"{'input':22} {'option':11} {'peak':>6} {'estimate':>9} {'s':>6}  result")
    for peak in run(sizes, inputs, options):
        status = "OVER" if peak.peak_mb > limit else "ok"
        print(
            f"{peak.input:22} {peak.option:11} {peak.peak_mb:6.0f} ({peak.estimate_mb:7.0f}) {peak.seconds:6.1f}  "
            f"{status:4} {peak.result[:48]}",
            flush=True,
        )


if __name__ == "__main__":
    main()
