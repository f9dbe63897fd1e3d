"""U²-Net (Qin et al., 2020) in PyTorch at any channel widths, with published weights read from ONNX.

Both published variants share one layout: six encoder stages of residual U-blocks (RSU-7, -6, -5,
-4, -4F, -4F), five decoder stages (RSU-4F, -4, -5, -6, -7), a 3x3 side output per stage and a 1x1
fusion of the six side maps. They differ only in their widths, the (middle, output) channels of
each of the 11 stages: U²-Net grows from 32/64 to 256/512, U²-Netp keeps 16/64 everywhere. Any
other `Widths` makes a narrower (or per-stage) student of the same graph; `scaled_widths` derives
one from a factor, `training.prune` fills it with the published weights' strongest channels.

The ONNX exports we start from have their batch norms folded into the convolutions, so every
REBNCONV here is a convolution with bias followed by ReLU, and the graph's convolutions map one to
one, in execution order, onto this module's.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)
Widths = tuple[tuple[int, int], ...]  # (middle, output) channels of stage1 ... stage6, stage5d ... stage1d
Ranks = dict[str, int]  # a ConvRelu's module path ("stages.4.encoder.0") -> the rank of its factored convolution
ENCODER_DEPTHS = ((7, False), (6, False), (5, False), (4, False), (4, True), (4, True))  # (levels, dilated)
DECODER_DEPTHS = ((4, True), (4, False), (5, False), (6, False), (7, False))  # stage5d ... stage1d
U2NET_WIDTHS: Widths = (
    (32, 64),
    (32, 128),
    (64, 256),
    (128, 512),
    (256, 512),
    (256, 512),
    (256, 512),
    (128, 256),
    (64, 128),
    (32, 64),
    (16, 64),
)
U2NETP_WIDTHS: Widths = ((16, 64),) * 11
STAGES = len(ENCODER_DEPTHS) + len(DECODER_DEPTHS)


def scaled_widths(factor: float | Sequence[float], base: Widths = U2NET_WIDTHS, multiple: int = 4) -> Widths:
    """`base` with every stage's channels times `factor` (one number, or one per stage), rounded
    to a multiple of `multiple` (at least `multiple`): INT8 kernels run whole vector lanes."""
    factors = [float(factor)] * STAGES if isinstance(factor, int | float) else [float(f) for f in factor]
    if len(factors) != STAGES or not all(0 < f <= 1 for f in factors):
        raise ValueError(f"width factors must be {STAGES} numbers in (0, 1], got {factor}")

    def scale(channels: int, f: float) -> int:
        return min(channels, max(multiple, round(channels * f / multiple) * multiple))

    return tuple((scale(mid, f), scale(out, f)) for (mid, out), f in zip(base, factors, strict=True))


OUTER_STAGES = (0, 1, 2, 8, 9, 10)  # stage1 ... stage3 and stage3d ... stage1d: the full-resolution end


def narrower_middles(widths: Widths, factor: float, floor: int = 16, multiple: int = 4) -> Widths:
    """`widths` with the outer stages' middle channels times `factor` (at least `floor`; never
    wider than they were), their outputs untouched. Those stages run at 1/1 to 1/4 of the input's
    side, where the channels' traffic costs the time, and their middles stay inside each block."""
    if not 0 < factor <= 1:
        raise ValueError(f"the middle channels' factor must be in (0, 1], got {factor}")

    def middle(mid: int) -> int:
        return min(mid, max(floor, round(mid * factor / multiple) * multiple))

    return tuple((middle(mid), out) if i in OUTER_STAGES else (mid, out) for i, (mid, out) in enumerate(widths))


class Factored(nn.Module):
    """A 3x3 (dilated) convolution of rank `rank`: a 3x3 one to `rank` channels (`reduce`), then a
    1x1 one back to `out_ch` (`expand`). `training.lowrank` fills it from a full convolution."""

    def __init__(self, in_ch: int, out_ch: int, rank: int, dilation: int = 1) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_ch, rank, 3, padding=dilation, dilation=dilation)
        self.expand = nn.Conv2d(rank, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.reduce(x))


class ConvRelu(nn.Module):
    """3x3 (dilated) convolution with bias, then ReLU: REBNCONV with its batch norm folded."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv: nn.Conv2d | Factored = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


def upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of `depth` levels (RSU-7 ... RSU-4); `dilated` makes RSU-4F (no pooling).

    Channels: `conv_in` and `decoder[0]` give `out_ch` (their sum is the block's output), every
    other convolution `mid_ch`; decoder[i] takes the deeper level's output and encoder[i]'s."""

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int, dilated: bool = False) -> None:
        super().__init__()
        self.depth, self.dilated = depth, dilated
        rate = (lambda i: 2**i) if dilated else (lambda i: 1)
        self.conv_in = ConvRelu(in_ch, out_ch)
        self.encoder = nn.ModuleList(
            [ConvRelu(out_ch if i == 0 else mid_ch, mid_ch, rate(i)) for i in range(depth - 1)]
        )
        self.bottom = ConvRelu(mid_ch, mid_ch, 2 ** (depth - 1) if dilated else 2)
        self.decoder = nn.ModuleList(
            [ConvRelu(2 * mid_ch, out_ch if i == 0 else mid_ch, rate(i)) for i in range(depth - 1)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx_in = self.conv_in(x)
        skips, hx = [], hx_in
        for i, conv in enumerate(self.encoder):
            hx = conv(hx)
            skips.append(hx)
            if not self.dilated and i < self.depth - 2:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        hx = self.bottom(hx)
        for i in reversed(range(self.depth - 1)):
            hx = self.decoder[i](torch.cat((hx, skips[i]), 1))
            if i > 0 and not self.dilated:
                hx = upsample_like(hx, skips[i - 1])
        return hx + hx_in


class U2Net(nn.Module):
    """U²-Net at `widths`: returns the fused map and the six side maps, each a sigmoid at input size.
    Input 1x3xHxW float32 (ImageNet-normalised), outputs 1x1xHxW in 0..1. `ranks` names the
    convolutions that are `Factored` (training/lowrank.py), by their ConvRelu's module path."""

    def __init__(self, widths: Widths = U2NET_WIDTHS, ranks: Mapping[str, int] | None = None) -> None:
        super().__init__()
        if len(widths) != STAGES:
            raise ValueError(f"U²-Net has {STAGES} stages, got {len(widths)} widths")
        self.widths: Widths = tuple((int(mid), int(out)) for mid, out in widths)
        outs = [out for _, out in self.widths]
        encoders, in_ch = [], 3
        for (depth, dilated), (mid, out) in zip(ENCODER_DEPTHS, self.widths[:6], strict=True):
            encoders.append(RSU(depth, in_ch, mid, out, dilated))
            in_ch = out
        decoders = []
        for j, ((depth, dilated), (mid, out)) in enumerate(zip(DECODER_DEPTHS, self.widths[6:], strict=True)):
            decoders.append(RSU(depth, outs[5 + j] + outs[4 - j], mid, out, dilated))  # previous + skip
        self.stages = nn.ModuleList(encoders)
        self.decoders = nn.ModuleList(decoders)
        side_inputs = [outs[10 - j] for j in range(5)] + [outs[5]]  # stage1d (finest) ... stage5d, stage6
        self.sides = nn.ModuleList([nn.Conv2d(ch, 1, 3, padding=1) for ch in side_inputs])
        self.fuse = nn.Conv2d(6, 1, 1)
        self.ranks: Ranks = {str(path): int(rank) for path, rank in (ranks or {}).items()}
        for path, rank in self.ranks.items():
            layer = self.get_submodule(path)
            if not isinstance(layer, ConvRelu) or not isinstance(layer.conv, nn.Conv2d):
                raise ValueError(f"{path} is not a convolution layer of U²-Net")
            conv = layer.conv
            layer.conv = Factored(conv.in_channels, conv.out_channels, rank, int(conv.dilation[0]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoded, hx = [], x
        for i, stage in enumerate(self.stages):
            hx = stage(hx)
            encoded.append(hx)
            if i < 5:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        decoded = [encoded[5]]  # hx6, then hx5d ... hx1d
        for i, stage in enumerate(self.decoders):
            skip = encoded[4 - i]
            decoded.append(stage(torch.cat((upsample_like(decoded[-1], skip), skip), 1)))
        side_maps = [self.sides[j](decoded[5 - j]) for j in range(6)]  # d1 (finest) ... d6
        side_maps = [side_maps[0]] + [upsample_like(d, side_maps[0]) for d in side_maps[1:]]
        fused = self.fuse(torch.cat(side_maps, 1))
        return tuple(torch.sigmoid(d) for d in (fused, *side_maps))

    def execution_order(self, modules: Sequence[ModuleT]) -> list[ModuleT]:
        """`modules` (each run once a pass) in the order a forward pass runs them."""
        ran: list[ModuleT] = []
        hooks = [m.register_forward_pre_hook(lambda m, _: ran.append(m)) for m in modules]
        with torch.no_grad():
            self(torch.zeros(1, 3, 64, 64))
        for hook in hooks:
            hook.remove()
        return ran

    def execution_order_convs(self) -> list[nn.Conv2d]:
        """The convolutions in the order a forward pass runs them."""
        return self.execution_order([m for m in self.modules() if isinstance(m, nn.Conv2d)])


class OutputTap:
    """Records the outputs of `modules` in every forward pass (until `take`); a context manager
    that removes its hooks on exit."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        self.outputs: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self.record) for m in modules]

    def record(self, _module: nn.Module, _args: object, output: torch.Tensor) -> None:
        self.outputs.append(output)

    def take(self) -> list[torch.Tensor]:
        """The outputs recorded since the last call, in the order the modules ran."""
        outputs, self.outputs = self.outputs, []
        return outputs

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()

    def __enter__(self) -> OutputTap:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def load_onnx_weights(model: U2Net, onnx_path: Path) -> U2Net:
    """Copy the published weights from the ONNX graph: its Conv nodes, in graph order, onto the
    module's convolutions in execution order; every shape must match."""
    import onnx  # noqa: PLC0415  # the ONNX reader is needed only when weights are loaded
    from onnx import numpy_helper  # noqa: PLC0415  # (idem)

    graph = onnx.load(str(onnx_path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    graph_convs = [n for n in graph.node if n.op_type == "Conv"]
    module_convs = model.execution_order_convs()
    if len(graph_convs) != len(module_convs):
        raise ValueError(f"{onnx_path}: {len(graph_convs)} convolutions, the module has {len(module_convs)}")
    for node, conv in zip(graph_convs, module_convs, strict=True):
        weight, bias = weights[node.input[1]], weights[node.input[2]]
        if tuple(weight.shape) != tuple(conv.weight.shape):
            raise ValueError(f"{node.name}: weight {weight.shape} does not fit {tuple(conv.weight.shape)}")
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.array(weight)))
            conv.bias.copy_(torch.from_numpy(np.array(bias)))
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class FusedOnly(nn.Module):
    """The fused map alone (the side maps are for training)."""

    def __init__(self, model: U2Net) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def export_fused(model: U2Net, target: Path, size: int, opset: int = 13) -> Path:
    """`model`'s fused output as ONNX: input `input` 1x3xSxS float32, output `alpha` 1x1xSxS."""
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is the legacy one
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            FusedOnly(model.eval()),
            (torch.zeros(1, 3, size, size),),
            str(target),
            opset_version=opset,
            input_names=["input"],
            output_names=["alpha"],
            dynamo=False,
        )
    return target
