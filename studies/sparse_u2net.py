"""`python -m studies.sparse_u2net`: can U²-Net itself ship in 12.5 MB as a sparse, compressed INT8 file?

ONNX Runtime runs a sparse model no faster than a dense one, but a file of mostly zero weights
compresses, and the engine could inflate it at cold start. This study asks what that would cost
before any training: U²-Net's published weights with the smallest convolution weights of the whole
network set to zero (global magnitude pruning, no retraining), for each sparsity:

- the size of its weights as the INT8 recipe stores them (symmetric, per output channel), compressed
  with lzma, the best compressor of Python's standard library;
- the fp32 map's MAE / max Fβ on the validation split at 320 (the torch proxy of `python -m training`:
  no refinement; the unlabelled groups against U²-Net's own labels), `--limit` photos a group.

Writes `studies/results/sparse_u2net.md`.
"""

from __future__ import annotations

import argparse
import lzma
from pathlib import Path

import numpy as np
import torch

from modelbuild.teachers import TEACHERS
from training.paths import INIT_ONNX, TEACHER_LABELS
from training.split import POOL_FOLDERS
from training.train import ARCHITECTURES, torch_predictor
from training.u2net import U2Net, load_onnx_weights
from training.validate import label_unlabelled, score, validation_groups

SPARSITIES = (0.0, 0.3, 0.5, 0.7, 0.85)
RESULTS = Path(__file__).parent / "results" / "sparse_u2net.md"


def convolutions(model: U2Net) -> list[torch.nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def prune_globally(model: U2Net, dense: dict[str, torch.Tensor], sparsity: float) -> float:
    """Zero the `sparsity` share of all convolution weights with the smallest magnitude (from the
    `dense` weights); returns the share left non-zero."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(dense[name])
        convs = convolutions(model)
        magnitudes = torch.cat([m.weight.abs().flatten() for m in convs])
        if sparsity > 0:
            threshold = magnitudes.kthvalue(int(sparsity * magnitudes.numel())).values
            for conv in convs:
                conv.weight.mul_((conv.weight.abs() > threshold).float())
        kept = sum(int((m.weight != 0).sum()) for m in convs)
    return kept / magnitudes.numel()


def int8_weights(model: U2Net) -> bytes:
    """Every convolution weight as the INT8 recipe stores it: symmetric, one scale per output channel."""
    parts = []
    for conv in convolutions(model):
        weight = conv.weight.detach().numpy().reshape(conv.weight.shape[0], -1)
        scale = np.maximum(np.abs(weight).max(axis=1, keepdims=True), 1e-12) / 127
        parts.append(np.clip(np.round(weight / scale), -127, 127).astype(np.int8).tobytes())
    return b"".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.sparse_u2net", description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20, help="validation photos a group (first by name)")
    parser.add_argument("--sparsities", default=",".join(map(str, SPARSITIES)))
    args = parser.parse_args(argv)
    teacher = TEACHERS["u2net"]
    groups = validation_groups(POOL_FOLDERS, TEACHER_LABELS / teacher.name)
    label_unlabelled(groups, teacher, TEACHER_LABELS / teacher.name)
    groups = {name: examples[: args.limit] for name, examples in groups.items()}
    model = load_onnx_weights(U2Net(ARCHITECTURES["u2net"]), INIT_ONNX["u2net"]).eval()
    dense = {name: p.detach().clone() for name, p in model.named_parameters()}
    lines = [
        "# U²-Net, sparse and compressed: does it fit 12.5 MB?",
        "",
        "Made by `python -m studies.sparse_u2net`; its docstring says what is measured.",
        f"Validation: {sum(map(len, groups.values()))} photos ({args.limit} a group at most), at 320.",
        "",
        "| zeroed (global magnitude) | weights kept | INT8 weights, lzma MB | " + " | ".join(groups) + " | mean |",
        "|---" * (len(groups) + 4) + "|",
    ]
    for sparsity in map(float, args.sparsities.split(",")):
        kept = prune_globally(model, dense, sparsity)
        megabytes = len(lzma.compress(int8_weights(model), preset=6)) / 1e6
        with torch.inference_mode():
            table = score(torch_predictor(model, 320), groups, f"{sparsity:.0%} zeroed")
        cells = [f"{table[g]['mae']:.4f} / {table[g]['max_fbeta']:.4f}" for g in (*groups, "mean")]
        lines.append(f"| {sparsity:.0%} | {kept:.3f} | {megabytes:.1f} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    RESULTS.write_text("\n".join([*lines, ""]))
    print("\n".join(lines))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
