"""What a narrower U²-Net would cost, before any training: `python -m training.cost`.

Each candidate is pruned from the published U²-Net (`training.prune`) to a width factor, with its
outer stages' middle channels narrowed further and its deepest stages factored to low rank for a
parameter budget where asked (`training.lowrank`; timing and file size do not depend on the
weights' values), exported with the fused output only, and quantized by a quick
static QDQ pass: the recipe's settings (`modelbuild.quantize.quantize_qdq`: uint8 activations,
per-channel int8 weights, MinMax) on a few calibration photos, without the float-node search (a
timing stand-in: the full recipe may keep a few nodes in float, a little larger and slower). Each
INT8 file is timed with the engine's own session settings against the shipped U²-Netp INT8 models
and U²-Netp fp32 (rembg's u2netp) in the same process, interleaved, median of several runs.

The engine's warm 2 MP time is inference plus decode, refinement, compositing and encoding; from
the stage split of a benchmark run (`BENCH_2MP`) the end-to-end ratio to rembg's u2netp is
estimated as (other stages + u2netp-int8's inference x the candidate's inference ratio) / rembg's.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modelbuild.evaluate import compare_latency
from modelbuild.graph import prepare_float_graph
from modelbuild.paths import ENGINE_MODELS, PHOTOS, SOURCE_MODELS
from modelbuild.photos import PhotoReader, photo_tensor
from modelbuild.quantize import quantize_qdq

from .prune import calibrate_heads, input_means, prune, stage_sensitivity
from .train import low_rank_student, student_from_state
from .u2net import U2Net, export_fused, load_onnx_weights, narrower_middles, parameter_count, scaled_widths

MAX_MB = 12.5  # the student's INT8 file at most (the issue)


@dataclass(frozen=True)
class Bench2MP:
    """Warm 2 MP stage times (ms) of one benchmark run: bench/results/latest.md, engine:u2netp-int8
    (decode 5 / infer 130 / refine 19 / compose 9 / encode 24) and rembg:u2netp (403 ms end to end)."""

    u2netp_int8_infer_ms: float = 130.0
    other_stages_ms: float = 5.0 + 19.0 + 9.0 + 24.0
    rembg_u2netp_ms: float = 403.0

    def end_to_end_ratio(self, infer_vs_u2netp_int8: float) -> float:
        return (self.other_stages_ms + self.u2netp_int8_infer_ms * infer_vs_u2netp_int8) / self.rembg_u2netp_ms


BENCH_2MP = Bench2MP()


def quick_int8(float_onnx: Path, target: Path, size: int, photos: list[Path]) -> Path:
    """Static QDQ INT8 by the recipe's settings on `photos`, without the float-node search."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare_float_graph(float_onnx, Path(tmp) / "float.onnx", size)
        tensors = [photo_tensor(p, size) for p in photos]
        quantize_qdq(prepared, target, Path(tmp) / "ranges.json", calibration=PhotoReader("input", tensors))
    return target


def centre_output(model: U2Net, photo: torch.Tensor) -> U2Net:
    """Shift the fusion's bias so the fused map of `photo` straddles 0.5. An untrained pruned
    network's map sits near 0 everywhere, and the engine then skips refinement and compositing
    (no subject): the probe would time less than a trained student costs. Same graph, same cost."""
    with torch.no_grad():
        fused = model(photo)[0].clamp(1e-6, 1 - 1e-6)
        model.fuse.bias -= torch.logit(fused).median()
    return model


@dataclass(frozen=True)
class Shape:
    """A candidate, written `WIDTH[/MIDDLE][+MILLIONS][@SIDE]`: U²-Net's channels times WIDTH, the
    outer stages' middles times MIDDLE, the deepest stages factored for MILLIONS parameters in all."""

    width: float
    middle: float = 1.0
    low_rank: float = 0.0
    size: int = 320

    @classmethod
    def parse(cls, text: str) -> Shape:
        rest, _, side = text.partition("@")
        rest, _, millions = rest.partition("+")
        width, _, middle = rest.partition("/")
        return cls(float(width), float(middle or 1.0), float(millions or 0.0), int(side or 320))

    def __str__(self) -> str:
        middle = f", middles x{self.middle}" if self.middle != 1.0 else ""
        factored = f", low rank {self.low_rank:g} M" if self.low_rank else ""
        return f"U²-Net x{self.width}{middle}{factored} @{self.size}"


def student(full: U2Net, shape: Shape, photos: list[Path], means: dict) -> U2Net:
    """The untrained candidate as training starts it: pruned, factored on photos spread over
    ../shared/data/train (`train.low_rank_student`), its heads fitted to U²-Net's on `photos`."""
    model = prune(full, narrower_middles(scaled_widths(shape.width), shape.middle), means).eval()
    if shape.low_rank:
        model = low_rank_student(model, sorted(PHOTOS.iterdir()), shape.size, shape.low_rank)
    return calibrate_heads(model, full, [torch.from_numpy(photo_tensor(p, shape.size)) for p in photos]).eval()


def candidate(model: U2Net, size: int, folder: Path, photos: list[Path], name: str) -> dict:
    """`model`'s quick INT8 file (its map centred first: `centre_output`), with its size."""
    timed = centre_output(copy.deepcopy(model), torch.from_numpy(photo_tensor(photos[0], size)))
    int8 = quick_int8(export_fused(timed, folder / f"{name}.fp32.onnx", size), folder / f"{name}.onnx", size, photos)
    return {"params": parameter_count(model), "mb": int8.stat().st_size / 1e6, "path": int8, "size": size}


def distance_to_teacher(model: U2Net, teacher: U2Net, photos: list[Path], size: int) -> float:
    """Mean absolute difference of the fused maps (each min-max stretched, as the engine does) of
    `model` and `teacher` on `photos`: how far a candidate starts from U²-Net before training."""
    from .online_teacher import minmax_per_image  # noqa: PLC0415

    with torch.no_grad():
        gaps = []
        for photo in photos:
            x = torch.from_numpy(photo_tensor(photo, size))
            gaps.append(float((minmax_per_image(model(x)[0]) - minmax_per_image(teacher(x)[0])).abs().mean()))
    return float(np.mean(gaps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.cost", description=__doc__)
    parser.add_argument(
        "--candidates",
        default="0.35,0.4,0.45,0.5,0.55,0.5@256,0.6@256",
        help="WIDTH[/MIDDLE][+MILLIONS][@SIDE] each: U²-Net's channels x WIDTH, the outer stages' middles "
        "x MIDDLE, the deepest stages factored for MILLIONS parameters, at an input side (default 320)",
    )
    parser.add_argument(
        "--students", default="", help="kept weights of trained students (step-N.pt, average.pt), comma-separated"
    )
    parser.add_argument(
        "--distance",
        type=int,
        default=0,
        help="also each one's distance to U²-Net's map on this many validation photos of ../shared/data/train",
    )
    parser.add_argument("--threads", type=int, default=1, help="session threads (the machine may be shared)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--calibration", type=int, default=8, help="photos for the quick INT8 ranges")
    parser.add_argument("--out", type=Path, default=Path(".cache/training/cost"))
    parser.add_argument(
        "--sensitivity",
        type=int,
        default=0,
        help="instead: each stage pruned alone to the first candidate's factor, on this many validation photos",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    photos = sorted(PHOTOS.iterdir())[:: max(1, len(list(PHOTOS.iterdir())) // args.calibration)][: args.calibration]
    full = load_onnx_weights(U2Net(), SOURCE_MODELS / "u2net.onnx").eval()
    if args.sensitivity:
        print(sensitivity_table(full, float(args.candidates.split(",")[0].split("@")[0]), args.sensitivity))
        return 0
    means = input_means(full, [torch.from_numpy(photo_tensor(p, 320)) for p in photos[:4]])
    held = validation_photos(args.distance)
    rows: dict[str, dict] = {}
    shapes = [Shape.parse(item) for item in args.candidates.split(",")]
    for number, item in enumerate([*shapes, *(Path(p) for p in args.students.split(",") if p)]):
        key, size = str(item), item.size if isinstance(item, Shape) else 320
        if isinstance(item, Shape):
            model = student(full, item, photos, means)
        else:
            model = student_from_state(torch.load(item, weights_only=True, map_location="cpu"))
        rows[key] = candidate(model, size, args.out, photos, f"candidate-{number}")
        if held:
            rows[key]["distance"] = f"{distance_to_teacher(model, full, held, size):.4f}"
        print(f"built {key}: {rows[key]['mb']:.2f} MB", flush=True)
    print(table(rows, args.threads, args.repeats, args.out))
    return 0


def validation_photos(count: int) -> list[Path]:
    """The first `count` validation photos of ../shared/data/train (training.split)."""
    from .split import validation_stems  # noqa: PLC0415

    held = validation_stems(PHOTOS.parent)
    return [p for p in sorted(PHOTOS.iterdir()) if p.stem in held][:count]


def sensitivity_table(full: U2Net, factor: float, count: int) -> str:
    """Each stage pruned alone to `factor` (prune.stage_sensitivity) on `count` validation photos of
    ../shared/data/train, with the stage's share of the parameters and of the multiply-adds."""
    photos = validation_photos(count)
    moved = stage_sensitivity(full, [torch.from_numpy(photo_tensor(p, 320)) for p in photos], factor)
    blocks = [*full.stages, *full.decoders]
    params = [parameter_count(b) for b in blocks]
    macs = stage_macs(full, 320)
    lines = [
        f"| stage | (middle, output) | params share | MACs share @320 | fused map moved, x{factor} alone |",
        "|---|---|---|---|---|",
    ]
    for (name, value), widths, p, m in zip(moved.items(), full.widths, params, macs, strict=True):
        lines.append(f"| {name} | {widths} | {p / sum(params):.3f} | {m / sum(macs):.3f} | {value:.4f} |")
    return "\n".join(lines)


def stage_macs(model: U2Net, size: int) -> list[int]:
    """Multiply-adds of each stage's convolutions at a size x size input."""
    blocks = [*model.stages, *model.decoders]
    totals = [0] * len(blocks)
    hooks = []
    for i, block in enumerate(blocks):
        for conv in block.modules():
            if isinstance(conv, torch.nn.Conv2d):

                def count(conv: torch.nn.Conv2d, _: object, out: torch.Tensor, i: int = i) -> None:
                    totals[i] += out.numel() * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]

                hooks.append(conv.register_forward_hook(count))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    return totals


def table(rows: dict[str, dict], threads: int, repeats: int, out: Path) -> str:
    """Time every candidate against the references in one interleaved run; a markdown table."""
    references = {
        "u2netp-int8 (shipped recipe) @320": ENGINE_MODELS / "u2netp-int8.onnx",
        "u2netp-distilled-int8 (default) @320": ENGINE_MODELS / "u2netp-distilled-int8.onnx",
        "u2netp fp32 (rembg's u2netp) @320": SOURCE_MODELS / "u2netp.onnx",
    }
    paths = {k: v for k, v in references.items() if v.is_file()} | {k: r["path"] for k, r in rows.items()}
    sides = {k: rows[k]["size"] if k in rows else 320 for k in paths}
    inputs = {k: np.random.default_rng(0).normal(size=(1, 3, s, s)).astype(np.float32) for k, s in sides.items()}
    latency = compare_latency(paths, inputs, threads=threads, repeats=repeats)
    base = latency["u2netp-int8 (shipped recipe) @320"]
    rembg = latency.get("u2netp fp32 (rembg's u2netp) @320", float("nan"))
    lines = [
        f"| model | params | INT8 MB | ms / inference ({threads} thread) | × u2netp-int8 | × u2netp fp32 "
        "| est. warm 2 MP × rembg u2netp | fits 12.5 MB | distance to U²-Net's map |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, ms in latency.items():
        row = rows.get(key, {})
        mb = row.get("mb", paths[key].stat().st_size / 1e6)
        lines.append(
            f"| {key} | {row.get('params', '')} | {mb:.2f} | {ms:.0f} | {ms / base:.2f} | {ms / rembg:.2f} "
            f"| {BENCH_2MP.end_to_end_ratio(ms / base):.2f} | {'yes' if mb <= MAX_MB else 'no'} "
            f"| {row.get('distance', '')} |"
        )
    record = {k: {"ms": v, **{kk: str(vv) for kk, vv in rows.get(k, {}).items()}} for k, v in latency.items()}
    (out / "latest.json").write_text(json.dumps(record, indent=1) + "\n")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
