"""U²-Netp (Qin et al., 2020): U²-Net's layout (`training.u2net`) at the small variant's widths,
16 middle and 64 output channels in every stage, with its published weights read from ONNX."""

from __future__ import annotations

from .u2net import U2NETP_WIDTHS, U2Net, load_onnx_weights

__all__ = ["U2NetP", "load_onnx_weights"]


class U2NetP(U2Net):
    """U²-Netp: returns the fused map and the six side maps, each a sigmoid at input size."""

    def __init__(self) -> None:
        super().__init__(U2NETP_WIDTHS)
