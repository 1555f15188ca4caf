"""Fused inverted bottleneck (FusedIB): a full kxk expansion conv, then a linear 1x1 projection."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvNormAct, DropPath, make_divisible


class FusedIB(nn.Module):
    """FusedIB block: ``kxk conv (in -> in*e) -> BN -> act -> 1x1 conv (-> out) -> BN``.

    The residual is added when ``stride == 1`` and ``in_channels == out_channels``.

    Args:
        in_channels: input width.
        out_channels: output width.
        kernel_size: kernel of the expansion conv.
        stride: stride of the expansion conv.
        expand_ratio: expanded width = ``make_divisible(in_channels * expand_ratio)``.
        act: activation name.
        norm: normalisation name.
        drop_path: stochastic-depth rate on the residual branch.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        expand_ratio: float = 4.0,
        act: str = "relu",
        norm: str = "batch",
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        mid = make_divisible(in_channels * expand_ratio)
        self.expand = ConvNormAct(in_channels, mid, kernel_size, stride, act=act, norm=norm)
        self.project = ConvNormAct(mid, out_channels, 1, act=None, norm=norm)
        self.has_skip = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if self.has_skip and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.expand(x))
        return x + self.drop_path(out) if self.has_skip else out
