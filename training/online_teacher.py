"""Distillation from a teacher that runs beside the student: U²-Net itself, for a student pruned from it.

A pruned student's every stage computes a subset of the teacher's channels (training/prune.py),
so besides the teacher's map it can be taught the teacher's features: each of the eleven stage
outputs is pulled toward the teacher's same channels (hint learning: Romero et al., "FitNets",
ICLR 2015), with no adapter layer, and so are the logits of the six side maps and the fused one.
The logits matter: pruned to half its channels, U²-Net's fused map starts saturated at 0 on every
photo, where the sigmoid passes no gradient back from a loss on the map itself (a first run's
features learnt for 100 steps while its map stayed at 0; validation MAE 0.31). The teacher sees the
very crop, flip and colours the student sees, so augmentation needs no cached label. Each module's
squared error is divided by the teacher's mean square there, so that each counts alike whatever its
activations' scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .prune import prune_with_channels
from .u2net import OutputTap, U2Net, Widths


def taught_modules(model: U2Net) -> list[torch.nn.Module]:
    """The modules whose outputs are taught: the eleven stages (encoder stage1 ... stage6, decoder
    stage5d ... stage1d), then the six side heads and the fuse, whose outputs are the maps' logits."""
    return [*model.stages, *model.decoders, *model.sides, model.fuse]


class FeatureTap(OutputTap):
    """Records the taught modules' outputs of every forward pass of `model` (`take` empties it)."""

    def __init__(self, model: U2Net) -> None:
        super().__init__(taught_modules(model))


def minmax_per_image(maps: torch.Tensor) -> torch.Tensor:
    """Each map of a batch (Nx1xHxW) stretched to 0..1, as the engine and the cached labels do."""
    low = maps.amin(dim=(1, 2, 3), keepdim=True)
    high = maps.amax(dim=(1, 2, 3), keepdim=True)
    return (maps - low) / (high - low).clamp_min(1e-6)


class OnlineTeacher:
    """The published U²-Net in evaluation mode, with the channels the student's stages kept."""

    def __init__(self, model: U2Net, student_widths: Widths) -> None:
        self.model = model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        heads = [torch.arange(1)] * (len(model.sides) + 1)  # one logit channel each: kept as it is
        self.kept = prune_with_channels(self.model, student_widths)[1] + heads
        self.tap = FeatureTap(self.model)

    def to(self, device: torch.device, memory_format: torch.memory_format) -> OnlineTeacher:
        self.model = self.model.to(device, memory_format=memory_format)
        self.kept = [k.to(device) for k in self.kept]
        return self

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(the teacher's fused map, min-max stretched per image; its kept channels of each taught
        module's output)."""
        fused = self.model(images)[0].float()
        features = [f.index_select(1, k).float() for f, k in zip(self.tap.take(), self.kept, strict=True)]
        return minmax_per_image(fused), features


def feature_loss(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over stages of |student - teacher|² / mean(teacher²) (see the module docstring)."""
    terms = [
        (s.float() - t).pow(2).mean() / t.pow(2).mean().clamp_min(1e-6) for s, t in zip(student, teacher, strict=True)
    ]
    return torch.stack(terms).mean()
