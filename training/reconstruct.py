"""Layer-by-layer least squares: a student made from U²-Net refitted to U²-Net's own features.

A student pruned and factored from U²-Net (`--middle 0.5 --low-rank 11`) computes U²-Net's
features approximately, and each layer's error becomes the next layer's input. Here every layer,
in the order a forward pass runs them, is refitted so that on the student's own inputs it gives
the teacher's outputs (before the ReLU) at the same places: a ridge regression of the teacher's
outputs on the student's input patches, shrunk toward the layer's current weights; a factored
layer keeps the fit's leading principal directions at its rank (reduced-rank regression; the
"asymmetric" reconstruction of Zhang et al., TPAMI 2016). The side heads and the fusion are
refitted the same way to the teacher's logits. No gradient step: it needs photos, not labels,
and minutes, not a GPU.

    python -m training reconstruct --run RUN --arch u2net --middle 0.5 --low-rank 11 --size 256
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .prune import filter_norms, strongest
from .u2net import ConvRelu, Factored, OutputTap, U2Net

POSITIONS = 1024  # sampled output positions per photo and layer (all of them where fewer)


@dataclass(frozen=True)
class Layer:
    """One convolution of the student and the teacher's that it stands for: the module whose input
    is read (`module`), its convolution (`conv`), the teacher's (`target`) and which of the
    teacher's output channels the student's are (`channels`)."""

    path: str
    module: nn.Module
    conv: nn.Conv2d | Factored
    target: nn.Conv2d
    channels: torch.Tensor
    relu: bool  # a ReLU follows (every layer but the heads, whose logits meet a sigmoid)


def _first(conv: nn.Conv2d | Factored) -> nn.Conv2d:
    """The convolution that reads a layer's input (a factored one's `reduce`)."""
    return conv.reduce if isinstance(conv, Factored) else conv


def layers_in_order(student: U2Net, teacher: U2Net) -> list[Layer]:
    """Every ConvRelu and head of `student` in execution order, paired with `teacher`'s. The
    student's outputs must be the teacher's (`--middle`, not `--width`): only middles are pruned,
    and a pruned middle keeps the teacher's strongest filters (training.prune's choice)."""
    if [out for _, out in student.widths] != [out for _, out in teacher.widths]:
        raise ValueError("reconstruction pairs layers of a student whose stages keep the teacher's outputs")
    names = {module: name for name, module in student.named_modules()}
    watched = [m for m in student.modules() if isinstance(m, ConvRelu)] + [*student.sides, student.fuse]
    order = [names[m] for m in student.execution_order(watched)]
    layers = []
    for path in order:
        module = student.get_submodule(path)
        conv = module.conv if isinstance(module, ConvRelu) else module
        target_module = teacher.get_submodule(path)
        target = target_module.conv if isinstance(target_module, ConvRelu) else target_module
        if not isinstance(conv, nn.Conv2d | Factored) or not isinstance(target, nn.Conv2d):
            raise TypeError(f"{path} is not a convolution in both networks")
        out = conv.expand.out_channels if isinstance(conv, Factored) else conv.out_channels
        keep = torch.arange(out) if out == target.out_channels else strongest(filter_norms(target), out)
        layers.append(Layer(path, module, conv, target, keep, isinstance(module, ConvRelu)))
    return layers


def sample_positions(count: int, seed: int, limit: int = POSITIONS) -> torch.Tensor:
    """`limit` positions of `count`, the same for a given seed (all of them where fewer)."""
    if count <= limit:
        return torch.arange(count)
    generator = torch.Generator().manual_seed(seed)
    return torch.sort(torch.randperm(count, generator=generator)[:limit]).values


def patches(x: torch.Tensor, conv: nn.Conv2d, positions: torch.Tensor) -> torch.Tensor:
    """The input patches `conv` reads at `positions` of its output (flat indices): (C*k*k, n),
    ordered as `conv.weight.flatten(1)`'s columns."""
    k, dilation, padding = conv.kernel_size[0], conv.dilation[0], conv.padding[0]
    padded = F.pad(x[0], (padding,) * 4) if padding else x[0]
    width = x.shape[3]
    rows, cols = positions // width, positions % width
    taps = [padded[:, rows + i * dilation, cols + j * dilation] for i in range(k) for j in range(k)]
    return torch.stack(taps, 1).reshape(-1, len(positions))


class _Reached(Exception):
    """Stops a forward pass once the layer's input is read."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value


def layer_input(model: U2Net, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What `module` receives when `model` runs on `x` (the pass stops there)."""

    def reached(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        raise _Reached(args[0])

    hook = module.register_forward_pre_hook(reached)
    try:
        with torch.no_grad():
            model(x)
    except _Reached as stop:
        return stop.value
    finally:
        hook.remove()
    raise RuntimeError("the layer did not run")


def _seed(layer: int, photo: int) -> int:
    """The seed of the positions sampled for one layer on one photo (teacher and student alike)."""
    return layer * 100_003 + photo


def teacher_targets(
    teacher: U2Net, layers: Sequence[Layer], inputs: Sequence[torch.Tensor]
) -> list[list[torch.Tensor]]:
    """Per layer, per photo: the teacher's outputs (before any ReLU) at the sampled positions."""
    targets: list[list[torch.Tensor]] = [[] for _ in layers]
    with OutputTap([layer.target for layer in layers]) as tap, torch.no_grad():
        for n, x in enumerate(inputs):
            teacher(x)
            for i, (layer, out) in enumerate(zip(layers, tap.take(), strict=True)):
                flat = out[0].flatten(1)
                targets[i].append(flat[layer.channels][:, sample_positions(flat.shape[1], _seed(i, n))].clone())
    return targets


def current_weights(conv: nn.Conv2d | Factored) -> torch.Tensor:
    """The layer's linear map as one matrix [W | b] (out x C*k*k+1), a factored pair multiplied out."""
    with torch.no_grad():
        if isinstance(conv, Factored):
            reduce = torch.cat((conv.reduce.weight.flatten(1), conv.reduce.bias[:, None]), 1)
            expand = conv.expand.weight.flatten(1)
            merged = expand @ reduce
            merged[:, -1] += conv.expand.bias
            return merged.double()
        return torch.cat((conv.weight.flatten(1), conv.bias[:, None]), 1).double()


def fit_layer(
    layer: Layer, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor], ridge: float, rounds: int = 3
) -> float:
    """Refit `layer` in place so that its outputs on the input patches `xs` fit `ys`; returns the
    relative squared error of the fit after the ReLU where one follows (0 = exact). Before a ReLU
    a negative target only asks for a negative output: after the first fit, each round moves such
    targets to the fit's own value where that is negative too, and to 0 where it is not."""
    first = _first(layer.conv)
    dims = first.weight[0].numel() + 1
    designs = [torch.cat((x, torch.ones(1, x.shape[1], dtype=x.dtype)), 0).double() for x in xs]
    gram = sum((d @ d.T for d in designs), torch.zeros(dims, dims, dtype=torch.float64))
    count = sum(d.shape[1] for d in designs)
    prior = current_weights(layer.conv)
    strength = max(ridge * float(torch.diagonal(gram)[:-1].mean()), 1e-12)  # > 0: inputs may all be 0
    regular = torch.eye(dims, dtype=torch.float64) * strength
    regular[-1, -1] = 0.0
    factor = torch.linalg.cholesky(gram + regular)
    wanted, fitted = [y.double() for y in ys], prior
    for round_ in range(rounds if layer.relu else 1):
        if round_:
            wanted = [torch.where(y > 0, y, (fitted @ d).clamp(max=0)) for y, d in zip(ys, designs, strict=True)]
        cross = sum((w @ d.T for w, d in zip(wanted, designs, strict=True)), torch.zeros_like(prior))
        fitted = torch.cholesky_solve((cross + prior @ regular).T, factor).T  # out x dims
        if isinstance(layer.conv, Factored):
            fitted = _set_factored(layer.conv, fitted, gram / count)
        else:
            _set_plain(layer.conv, fitted)
    relu = F.relu if layer.relu else (lambda t: t)
    error = sum(float((relu(fitted @ d) - relu(y.double())).pow(2).sum()) for y, d in zip(ys, designs, strict=True))
    return error / max(sum(float(relu(y.double()).pow(2).sum()) for y in ys), 1e-12)


def _set_plain(conv: nn.Conv2d, fitted: torch.Tensor) -> None:
    with torch.no_grad():
        conv.weight.copy_(fitted[:, :-1].reshape(conv.weight.shape).float())
        conv.bias.copy_(fitted[:, -1].float())


def _set_factored(conv: Factored, fitted: torch.Tensor, moments: torch.Tensor) -> torch.Tensor:
    """Keep the `rank` leading principal directions of the fitted outputs (their mean and covariance
    from the inputs' second `moments`); returns the rank-limited map that was set."""
    rank = conv.reduce.out_channels
    mean = fitted @ moments[:, -1]  # the design's last row is 1: its column of moments is the mean
    covariance = fitted @ moments @ fitted.T - torch.outer(mean, mean)
    _, directions = torch.linalg.eigh(covariance)
    basis = directions[:, -rank:].flip(1)  # out x r
    reduce_weight = basis.T @ fitted[:, :-1]
    reduce_bias = basis.T @ (fitted[:, -1] - mean)
    with torch.no_grad():
        conv.reduce.weight.copy_(reduce_weight.reshape(conv.reduce.weight.shape).float())
        conv.reduce.bias.copy_(reduce_bias.float())
        conv.expand.weight.copy_(basis.reshape(conv.expand.weight.shape).float())
        conv.expand.bias.copy_(mean.float())
    merged = basis @ torch.cat((reduce_weight, reduce_bias[:, None]), 1)
    merged[:, -1] += mean
    return merged


def reconstruct(
    student: U2Net, teacher: U2Net, inputs: Sequence[torch.Tensor], ridge: float = 1e-3, log: bool = True
) -> U2Net:
    """`student`, every layer refitted in turn to `teacher`'s outputs on `inputs` (module
    docstring). In place; returns `student`."""
    student.eval()
    teacher.eval()
    layers = layers_in_order(student, teacher)
    started = time.monotonic()
    targets = teacher_targets(teacher, layers, inputs)
    for i, layer in enumerate(layers):
        first = _first(layer.conv)
        xs = []
        for n, x in enumerate(inputs):
            seen = layer_input(student, layer.module, x)
            positions = sample_positions(seen.shape[2] * seen.shape[3], _seed(i, n))
            xs.append(patches(seen, first, positions))
        error = fit_layer(layer, xs, targets[i], ridge)
        if log:
            elapsed = time.monotonic() - started
            print(f"{i + 1}/{len(layers)} {layer.path}: residual {error:.4f} ({elapsed:.0f} s)", flush=True)
    return student


def spread(pool: Sequence[Sequence[Path]], count: int) -> list[Path]:
    """`count` photos, an equal share from each folder of `pool`, spread over each by name."""
    chosen: list[Path] = []
    share = max(1, count // len(pool))
    for photos in pool:
        chosen += photos[:: max(1, len(photos) // share)][:share]
    return chosen[:count]
