"""Squeeze-and-excitation, kept for ``mobilenet_v4_custom`` (the paper's MobileNetV4 has none)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import make_activation


class SE(nn.Module):
    """Squeeze-and-excitation: global pool -> 1x1 (C -> C*r) -> act -> 1x1 (-> C) -> sigmoid -> scale.

    Args:
        channels: input and output width.
        squeeze_ratio: squeezed width = ``max(1, int(channels * squeeze_ratio))``.
        act: activation name inside the gate.
    """

    def __init__(self, channels: int, squeeze_ratio: float = 0.25, act: str = "relu") -> None:
        super().__init__()
        if not 0 < squeeze_ratio <= 1:
            raise ValueError(f"squeeze_ratio must be in (0, 1], got {squeeze_ratio}")
        squeezed = max(1, int(channels * squeeze_ratio))
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.act = make_activation(act)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean((2, 3), keepdim=True)
        gate = self.expand(self.act(self.reduce(gate)))
        return x * gate.sigmoid()
