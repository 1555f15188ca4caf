"""The MobileNetV4 stem: one strided 3x3 conv -> BatchNorm -> activation."""

from __future__ import annotations

from .layers import ConvNormAct


class Stem(ConvNormAct):
    """First layer of every MobileNetV4: 3x3 conv, stride 2, BN, activation.

    Args:
        in_channels: image channels (3 for RGB, 1 for grayscale, ``k*c`` for a frame stack).
        out_channels: stem width (32 or 24 in the paper's variants).
        act: activation name (``"relu"`` or ``"gelu"``).
        norm: ``"batch"``, ``"frozen"`` or ``"group"``.
        stride: 2 in every paper variant.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        act: str = "relu",
        norm: str = "batch",
        stride: int = 2,
    ) -> None:
        super().__init__(in_channels, out_channels, 3, stride=stride, act=act, norm=norm)
