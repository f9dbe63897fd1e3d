"""U²-Netp (Qin et al., 2020) in PyTorch, with its published weights read from the ONNX file.

The layout follows the paper's small variant: six encoder stages of residual U-blocks (RSU-7 ... RSU-4F,
16 middle and 64 output channels), five decoder stages, six side outputs and a 1x1 fusion. The ONNX
export we start from has its batch norms folded into the convolutions, so every REBNCONV here is a
convolution with bias followed by ReLU, and the graph's convolutions map one to one, in execution
order, onto this module's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ConvRelu(nn.Module):
    """3x3 (dilated) convolution with bias, then ReLU: REBNCONV with its batch norm folded."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


def upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of `depth` levels (RSU-7 ... RSU-4); `dilated` makes RSU-4F (no pooling)."""

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


class U2NetP(nn.Module):
    """U²-Netp: returns the fused map and the six side maps, each a sigmoid at input size."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            [
                RSU(7, 3, 16, 64),
                RSU(6, 64, 16, 64),
                RSU(5, 64, 16, 64),
                RSU(4, 64, 16, 64),
                RSU(4, 64, 16, 64, dilated=True),
                RSU(4, 64, 16, 64, dilated=True),
            ]
        )
        self.decoders = nn.ModuleList(  # stage5d ... stage1d
            [
                RSU(4, 128, 16, 64, dilated=True),
                RSU(4, 128, 16, 64),
                RSU(5, 128, 16, 64),
                RSU(6, 128, 16, 64),
                RSU(7, 128, 16, 64),
            ]
        )
        self.sides = nn.ModuleList([nn.Conv2d(64, 1, 3, padding=1) for _ in range(6)])
        self.fuse = nn.Conv2d(6, 1, 1)

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

    def execution_order_convs(self) -> list[nn.Conv2d]:
        """The 3x3 convolutions of the encoder/decoder in the order a forward pass runs them."""
        convs: list[nn.Conv2d] = []
        hooks = [
            m.register_forward_hook(lambda m, *_: convs.append(m)) for m in self.modules() if isinstance(m, nn.Conv2d)
        ]
        with torch.no_grad():
            self(torch.zeros(1, 3, 64, 64))
        for hook in hooks:
            hook.remove()
        return convs


def load_onnx_weights(model: U2NetP, onnx_path: Path) -> U2NetP:
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
