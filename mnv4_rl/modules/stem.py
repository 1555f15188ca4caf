"""The MobileNetV4 stem: one strided conv -> norm -> activation."""

from __future__ import annotations

from .layers import ConvNormAct


class Stem(ConvNormAct):
    """First layer of every MobileNetV4: a 3x3 stride-2 conv, norm and activation in the paper's
    variants; a "patchify" conv (kernel = stride, no padding: non-overlapping patches, as in
    ConvNeXt) in the RL-shaped ones.

    Args:
        in_channels: image channels (3 for RGB, 1 for grayscale, ``k*c`` for a frame stack).
        out_channels: stem width (32 or 24 in the paper's variants).
        act: activation name (``"relu"`` or ``"gelu"``).
        norm: ``"batch"``, ``"frozen"`` or ``"group"``.
        stride: 2 in every paper variant.
        kernel_size: 3 in every paper variant; equal to ``stride`` for a patchify stem.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        act: str = "relu",
        norm: str = "batch",
        stride: int = 2,
        kernel_size: int = 3,
    ) -> None:
        padding = 0 if kernel_size == stride else kernel_size // 2
        super().__init__(
            in_channels, out_channels, kernel_size, stride, act=act, norm=norm, padding=padding
        )
