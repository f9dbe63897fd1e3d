"""Low-rank factorisation of U²-Net's deepest stages, from the outputs they compute on photos.

Most of U²-Net's 44 M parameters sit in stage4 to stage6, stage5d and stage4d (40.7 M), which run at
1/8 to 1/32 of the input's side: few operations, most of the file. Each of their convolutions
(W, b) becomes a rank-r pair, a 3x3 convolution to r channels and a 1x1 one back, filled so that

    y ≈ P Pᵀ (W x + b - μ) + μ

where μ is the mean of the convolution's outputs y on a few photos and P (out × r) holds the r
leading principal directions of those outputs (Zhang et al., "Accelerating Very Deep
Convolutional Networks for Classification and Detection", TPAMI 2016: a layer's responses have a
lower rank than its weights). The ranks are shared out under a budget for the whole network's
parameters, greedily: each next rank of any convolution buys the share of that convolution's
output variance it explains, per parameter it costs. The stages keep their channels, so every
stage's output is the teacher's own and the teacher can teach all of it (training/online_teacher.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .prune import STAGE_NAMES
from .u2net import ConvRelu, Ranks, U2Net, parameter_count

LOW_RANK_STAGES = ("stage4", "stage5", "stage6", "stage5d", "stage4d")


@dataclass(frozen=True)
class Spectrum:
    """A convolution's outputs on photos: their mean, and their covariance's eigenvalues
    (descending) with its eigenvectors as columns."""

    mean: torch.Tensor
    variances: torch.Tensor
    directions: torch.Tensor


def stage_paths(model: U2Net) -> dict[str, str]:
    """Each stage's module path, by name (stage1 ... stage6, stage5d ... stage1d)."""
    paths = [f"stages.{i}" for i in range(len(model.stages))] + [f"decoders.{i}" for i in range(len(model.decoders))]
    return dict(zip(STAGE_NAMES, paths, strict=True))


def layers_of(model: U2Net, stages: Sequence[str]) -> dict[str, nn.Conv2d]:
    """The plain convolutions of `stages`, by their ConvRelu's module path."""
    prefixes = tuple(stage_paths(model)[name] + "." for name in stages)
    return {
        path: layer.conv
        for path, layer in model.named_modules()
        if isinstance(layer, ConvRelu) and isinstance(layer.conv, nn.Conv2d) and path.startswith(prefixes)
    }


def output_spectra(model: U2Net, layers: dict[str, nn.Conv2d], inputs: Sequence[torch.Tensor]) -> dict[str, Spectrum]:
    """The spectrum of each layer's outputs (before its ReLU) over every position of `inputs`."""
    sums: dict[str, list] = {path: [0, 0, 0] for path in layers}

    def hook(path: str):
        def record(_conv: nn.Module, _args: object, out: torch.Tensor) -> None:
            y = out.detach().double().transpose(0, 1).reshape(out.shape[1], -1)
            total = sums[path]
            total[0], total[1], total[2] = total[0] + y.sum(1), total[1] + y @ y.T, total[2] + y.shape[1]

        return record

    handles = [conv.register_forward_hook(hook(path)) for path, conv in layers.items()]
    with torch.no_grad():
        for x in inputs:
            model(x)
    for handle in handles:
        handle.remove()
    spectra = {}
    for path, (total, products, count) in sums.items():
        mean = total / count
        variances, directions = torch.linalg.eigh(products / count - torch.outer(mean, mean))
        spectra[path] = Spectrum(mean.float(), variances.flip(0).clamp_min(0).float(), directions.flip(1).float())
    return spectra


def parameters_per_rank(conv: nn.Conv2d) -> int:
    """What each rank of a factored `conv` costs: a filter and its bias in `reduce`, a column of `expand`."""
    return conv.weight[0].numel() + 1 + conv.out_channels


def useful_rank(conv: nn.Conv2d) -> int:
    """The largest rank whose pair has fewer parameters than the convolution itself."""
    return (conv.weight.numel() - 1) // parameters_per_rank(conv)


def allocate_ranks(model: U2Net, layers: dict[str, nn.Conv2d], spectra: dict[str, Spectrum], max_params: int) -> Ranks:
    """Ranks for `layers` such that the factored network has at most `max_params` parameters
    (ValueError if rank 1 everywhere does not fit). A rank stops at the layer's `useful_rank`."""
    per_rank = {path: parameters_per_rank(conv) for path, conv in layers.items()}
    ranks = dict.fromkeys(layers, 1)
    used = parameter_count(model) - sum(conv.weight.numel() for conv in layers.values()) + sum(per_rank.values())
    if used > max_params:
        raise ValueError(f"{used:,} parameters at rank 1 already exceed the budget of {max_params:,}")
    heap: list[tuple[float, str]] = []

    def offer(path: str) -> None:
        rank = ranks[path]
        if rank < useful_rank(layers[path]):
            variances = spectra[path].variances
            share = float(variances[rank] / variances.sum().clamp_min(1e-12))
            heapq.heappush(heap, (-share / per_rank[path], path))

    for path in layers:
        offer(path)
    while heap:
        _, path = heapq.heappop(heap)
        if used + per_rank[path] <= max_params:
            ranks[path] += 1
            used += per_rank[path]
            offer(path)
    return ranks


def factorise(model: U2Net, spectra: dict[str, Spectrum], ranks: Ranks) -> U2Net:
    """A copy of `model` whose `ranks` layers are factored from their `spectra` (module docstring)."""
    state = model.state_dict()
    for path, rank in ranks.items():
        weight, bias = state.pop(f"{path}.conv.weight"), state.pop(f"{path}.conv.bias")
        spectrum = spectra[path]
        basis = spectrum.directions[:, :rank]  # out x r
        state[f"{path}.conv.reduce.weight"] = (basis.T @ weight.flatten(1)).reshape(rank, *weight.shape[1:])
        state[f"{path}.conv.reduce.bias"] = basis.T @ (bias - spectrum.mean)
        state[f"{path}.conv.expand.weight"] = basis.reshape(*basis.shape, 1, 1).clone()
        state[f"{path}.conv.expand.bias"] = spectrum.mean.clone()
    factored = U2Net(model.widths, {**model.ranks, **ranks})
    factored.load_state_dict(state)
    return factored.eval()


def low_rank(
    model: U2Net, inputs: Sequence[torch.Tensor], max_params: int, stages: Sequence[str] = LOW_RANK_STAGES
) -> U2Net:
    """`model` with the convolutions of `stages` factored to fit `max_params` parameters in all."""
    layers = layers_of(model, stages)
    spectra = output_spectra(model, layers, inputs)
    return factorise(model, spectra, allocate_ranks(model, layers, spectra, max_params))
