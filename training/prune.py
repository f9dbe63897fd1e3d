"""Structured channel pruning: a narrower U²-Net filled with the wider one's strongest channels.

Every convolution keeps the output channels (filters) with the largest L1 norm, as many as the
narrower widths give it (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017), and its
input channels are the ones its producers kept, so the narrow network computes a subset of the
wide one's feature maps and starts close to it. Channels that must agree are ranked together:
an RSU block's output is the sum of its input convolution and its last decoder convolution
(a residual), so both keep the same channels, ranked by the sum of their filters' norms. Kept
channels stay in their original order. At the wide network's own widths pruning is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .u2net import RSU, OutputTap, U2Net, Widths, scaled_widths


def filter_norms(*convs: nn.Conv2d) -> torch.Tensor:
    """The L1 norm of each output channel's filter, summed over `convs` (which share their outputs)."""
    return sum((conv.weight.detach().abs().sum(dim=(1, 2, 3)) for conv in convs), torch.zeros(()))


def strongest(norms: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the `count` largest norms, in ascending index order."""
    if count > len(norms):
        raise ValueError(f"cannot keep {count} of {len(norms)} channels")
    return torch.sort(torch.topk(norms, count).indices).values


InputMeans = dict[nn.Conv2d, torch.Tensor]  # convolution -> mean of each of its input channels


def input_means(model: U2Net, inputs: Sequence[torch.Tensor]) -> InputMeans:
    """The mean of every convolution's input channels over `inputs` (photo tensors 1x3xHxW)."""
    sums: InputMeans = {}

    def hook(conv: nn.Conv2d, args: tuple[torch.Tensor, ...]) -> None:
        sums[conv] = sums.get(conv, torch.zeros(())) + args[0].detach().mean(dim=(0, 2, 3)) / len(inputs)

    hooks = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for x in inputs:
            model(x)
    for handle in hooks:
        handle.remove()
    return sums


def copy_conv(
    source: nn.Conv2d, target: nn.Conv2d, outputs: torch.Tensor, inputs: torch.Tensor, means: InputMeans
) -> None:
    """`target` := the `outputs` x `inputs` slice of `source` (weights and bias). With the
    source's input means known, what the dropped inputs contributed on average moves into the
    bias (mean replacement: the next layer's pre-activation keeps its mean)."""
    with torch.no_grad():
        target.weight.copy_(source.weight[outputs][:, inputs])
        bias = source.bias[outputs].clone() if source.bias is not None else torch.zeros(len(outputs))
        if source in means:
            dropped = torch.ones(source.in_channels, dtype=torch.bool)
            dropped[inputs] = False
            bias += source.weight[outputs][:, dropped].sum(dim=(2, 3)) @ means[source][dropped]
        if target.bias is not None:
            target.bias.copy_(bias)


def prune_block(source: RSU, target: RSU, inputs: torch.Tensor, means: InputMeans) -> torch.Tensor:
    """Fill `target` from `source` given the source input channels it receives; returns the
    source output channels it keeps (its output's channel i is the source's channel kept[i])."""
    mid = source.bottom.conv.out_channels
    kept = strongest(filter_norms(source.conv_in.conv, source.decoder[0].conv), target.conv_in.conv.out_channels)
    copy_conv(source.conv_in.conv, target.conv_in.conv, kept, inputs, means)
    skips, previous = [], kept
    for wide, narrow in zip(source.encoder, target.encoder, strict=True):
        chosen = strongest(filter_norms(wide.conv), narrow.conv.out_channels)
        copy_conv(wide.conv, narrow.conv, chosen, previous, means)
        skips.append(chosen)
        previous = chosen
    chosen = strongest(filter_norms(source.bottom.conv), target.bottom.conv.out_channels)
    copy_conv(source.bottom.conv, target.bottom.conv, chosen, previous, means)
    previous = chosen
    for i in reversed(range(len(source.decoder))):  # each takes cat(deeper level, skip i)
        wide, narrow = source.decoder[i].conv, target.decoder[i].conv
        chosen = kept if i == 0 else strongest(filter_norms(wide), narrow.out_channels)
        copy_conv(wide, narrow, chosen, torch.cat((previous, skips[i] + mid)), means)
        previous = chosen
    return kept


def prune(source: U2Net, widths: Widths, means: InputMeans | None = None) -> U2Net:
    """A U²-Net at `widths` (each at most the source's) holding `source`'s strongest channels;
    with `means` (`input_means` of the source) the dropped channels' mean goes into the biases."""
    return prune_with_channels(source, widths, means)[0]


def prune_with_channels(
    source: U2Net, widths: Widths, means: InputMeans | None = None
) -> tuple[U2Net, list[torch.Tensor]]:
    """`prune`, with the source channels each of the eleven stages keeps (stage1 ... stage6, then
    stage5d ... stage1d): the narrow stage's output channel i is the wide one's channel kept[i]."""
    means = means or {}
    target = U2Net(widths)
    encoded, previous = [], torch.arange(3)
    for wide, narrow in zip(source.stages, target.stages, strict=True):
        previous = prune_block(wide, narrow, previous, means)
        encoded.append(previous)
    decoded = [encoded[5]]
    channels = [out for _, out in source.widths]
    for j, (wide, narrow) in enumerate(zip(source.decoders, target.decoders, strict=True)):
        inputs = torch.cat((decoded[-1], encoded[4 - j] + channels[5 + j]))  # cat(upsampled previous, skip)
        decoded.append(prune_block(wide, narrow, inputs, means))
    for j, (wide_side, narrow_side) in enumerate(zip(source.sides, target.sides, strict=True)):
        copy_conv(wide_side, narrow_side, torch.arange(1), decoded[5 - j], means)
    copy_conv(source.fuse, target.fuse, torch.arange(1), torch.arange(6), means)
    return target, encoded + decoded[1:]


def head_logits(model: U2Net, x: torch.Tensor) -> list[torch.Tensor]:
    """The six side heads' logits and the fuse's, for a batch `x`."""
    with OutputTap([*model.sides, model.fuse]) as tap, torch.no_grad():
        model(x)
    return tap.take()


def calibrate_heads(student: U2Net, teacher: U2Net, inputs: Sequence[torch.Tensor]) -> U2Net:
    """Rescale each side head, then the fuse, of a pruned `student` so that its logits fit the
    teacher's on `inputs` by least squares (logit' = a * logit + b, folded into the head's weights).
    Pruned to half, U²-Net's heads sit at logits of -8 to -11 on every photo (their inputs lost
    most of their magnitude with the dropped channels): a map saturated at 0, where the sigmoid
    passes no gradient back from a loss on the map. The fit can only bring the logits closer (a = 1,
    b = 0 is one of its choices). The sides are independent of each other, so they are fitted on
    one pass; the fuse, which sees them, on a second. In place; returns `student`."""
    x = torch.cat(list(inputs))
    *wanted_sides, wanted_fuse = head_logits(teacher, x)
    for head, have, want in zip(student.sides, head_logits(student, x)[:-1], wanted_sides, strict=True):
        _fit_head(head, have, want)
    _fit_head(student.fuse, head_logits(student, x)[-1], wanted_fuse)
    return student


def _fit_head(head: nn.Conv2d, have: torch.Tensor, want: torch.Tensor) -> None:
    """Fold the least-squares fit want ~ a * have + b into `head`'s weights and bias."""
    design = torch.stack((have.flatten().double(), torch.ones(have.numel(), dtype=torch.float64)), dim=1)
    a, b = torch.linalg.lstsq(design, want.flatten().double()[:, None]).solution.flatten().tolist()
    with torch.no_grad():
        head.weight.mul_(a)
        head.bias.mul_(a).add_(b)


STAGE_NAMES = ("stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage5d", "stage4d", "stage3d", "stage2d")
STAGE_NAMES += ("stage1d",)


def stage_sensitivity(model: U2Net, inputs: Sequence[torch.Tensor], factor: float) -> dict[str, float]:
    """How far the fused map moves (mean absolute difference, maps min-max normalised) when one
    stage alone is pruned to `factor` of its channels, without retraining: per stage, by name.
    A ranking for per-stage widths (prune the least sensitive most), not a quality estimate."""
    means = input_means(model, inputs)

    def fused(net: U2Net, x: torch.Tensor) -> torch.Tensor:
        out = net(x)[0]
        return (out - out.min()) / (out.max() - out.min()).clamp_min(1e-6)

    with torch.no_grad():
        reference = [fused(model, x) for x in inputs]
        result = {}
        for i, name in enumerate(STAGE_NAMES):
            factors = [factor if j == i else 1.0 for j in range(len(STAGE_NAMES))]
            pruned = prune(model, scaled_widths(factors, model.widths), means).eval()
            moved = [(fused(pruned, x) - r).abs().mean() for x, r in zip(inputs, reference, strict=True)]
            result[name] = float(np.mean(moved))
    return result
