"""`python -m bench.formats`: file size and encode time of every output format and setting at
2 MP and 12 MP, on a real cut-out (a sample photo enlarged to the size, cut out by the engine).

The encoders run in-process, each setting `--repeats` times (the minimum is reported: background
load only ever adds time); the other processes' CPU use over the pass is reported beside the
figures. Writes bench/results/formats.{json,md}; formats.py's defaults cite them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine import Options, OutputMode, remove_background
from engine.cpus import usable_cpus
from engine.encode import encode_avif, encode_jpeg, encode_png, encode_webp
from engine.layers import to_bgra
from engine.pipeline import flatten

from .data import ROOT
from .load import OtherLoad, cpu_count

SIZES = {"2 MP": (1632, 1224), "12 MP": (4000, 3000)}
PHOTO = ROOT / "samples" / "coffee.jpg"
RESULTS = ROOT / "bench" / "results"
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Setting:
    """One encoder setting: its label, the pixels it takes (transparent cut-out or flattened) and the call."""

    label: str
    transparent: bool
    encode: Callable[[np.ndarray], bytes]


THREADS = usable_cpus()  # what the engine's settings default to (ENGINE_THREADS)


def _png_all_filters(pixels: np.ndarray) -> bytes:
    """Level 1 with libpng's adaptive filters and the default strategy (what encode_png replaced)."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_ALL_FILTERS]
    return bytes(cv2.imencode(".png", pixels, params)[1])


def _png_libpng_up(pixels: np.ndarray) -> bytes:
    """Level 1, UP filter and RLE through OpenCV's libpng, on one thread (what engine/png.py replaced)."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    return bytes(cv2.imencode(".png", pixels, [*params, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])[1])


SETTINGS: tuple[Setting, ...] = (
    Setting(
        f"png level 1 (UP filter, RLE, {THREADS} threads): default", True, lambda p: encode_png(p, 1, threads=THREADS)
    ),
    Setting("png level 1 (UP filter, RLE, 1 thread)", True, lambda p: encode_png(p, 1)),
    Setting("png level 1 (UP filter, RLE, OpenCV's libpng)", True, _png_libpng_up),
    Setting("png level 1 (adaptive filters)", True, _png_all_filters),
    Setting(f"png level 3 (UP filter, RLE, {THREADS} threads)", True, lambda p: encode_png(p, 3, threads=THREADS)),
    Setting("png level 6 (adaptive filters)", True, lambda p: encode_png(p, 6)),
    Setting("webp lossless (quality 100, level 1)", True, lambda p: encode_webp(p, 1, 100)),
    Setting("webp lossy quality 75 (method 2)", True, lambda p: encode_webp(p, 1, 75)),
    Setting("webp lossy quality 90 (method 2): webp default", True, lambda p: encode_webp(p, 1, 90)),
    Setting("webp lossy quality 90, method 4 (libwebp's default)", True, lambda p: encode_webp(p, 1, 90, None, 4)),
    Setting("jpeg quality 80 (on white)", False, lambda p: encode_jpeg(p, 1, 80)),
    Setting("jpeg quality 90 (on white): jpeg default", False, lambda p: encode_jpeg(p, 1, 90)),
    Setting("avif quality 50", True, lambda p: encode_avif(p, 1, 50, threads=THREADS)),
    Setting("avif quality 60 (speed 8): avif default", True, lambda p: encode_avif(p, 1, 60, threads=THREADS)),
    Setting("avif quality 60, speed 10", True, lambda p: encode_avif(p, 1, 60, None, 10, threads=THREADS)),
)


def cutout_pixels(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(BGRA cut-out, BGR on white) of the sample photo enlarged to width x height."""
    photo = cv2.resize(cv2.imread(str(PHOTO)), (width, height), interpolation=cv2.INTER_CUBIC)
    data = bytes(cv2.imencode(".png", photo, [cv2.IMWRITE_PNG_COMPRESSION, 0])[1])
    matte = remove_background(data, Options(output=OutputMode.MASK))
    alpha = cv2.imdecode(np.frombuffer(matte.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    return to_bgra(photo, alpha), flatten(photo, alpha, WHITE)


def measure(settings: Sequence[Setting], repeats: int) -> dict[str, list[dict[str, object]]]:
    """size label -> one row per setting: bytes, best encode time (ms), bytes per megapixel."""
    table: dict[str, list[dict[str, object]]] = {}
    for size, (width, height) in SIZES.items():
        transparent, flat = cutout_pixels(width, height)
        rows = []
        for setting in settings:
            pixels = transparent if setting.transparent else flat
            times, data = [], b""
            for _ in range(repeats):
                start = time.perf_counter()
                data = setting.encode(pixels)
                times.append((time.perf_counter() - start) * 1000)
            rows.append({"setting": setting.label, "bytes": len(data), "encode_ms": round(min(times), 1)})
            print(f"{size:6} {setting.label:45} {len(data) / 1e6:8.3f} MB {min(times):9.1f} ms", flush=True)
        table[size] = rows
    return table


def markdown(table: dict[str, list[dict[str, object]]], load: float) -> str:
    lines = [
        "# Output formats: size and encode time",
        "",
        f"`python -m bench.formats`: {PHOTO.name} enlarged and cut out; best of the repeats; the other processes "
        f"used {load:.2f} of {cpu_count()} cores meanwhile (times compare only with each other).",
        "",
        "| setting | " + " | ".join(f"{size} size | {size} encode" for size in table) + " |",
        "|---|" + "---:|---:|" * len(table),
    ]
    for i, row in enumerate(next(iter(table.values()))):
        cells = [f"{rows[i]['bytes'] / 1e6:.2f} MB | {rows[i]['encode_ms']:.0f} ms" for rows in table.values()]
        lines.append(f"| {row['setting']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.formats", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with OtherLoad() as load:
        table = measure(SETTINGS, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "formats.json").write_text(json.dumps({"other_cores": round(load.cores, 2), "sizes": table}, indent=2))
    (args.out / "formats.md").write_text(markdown(table, load.cores))
    print(markdown(table, load.cores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
