"""IMPALA-CNN (Espeholt et al. 2018, "IMPALA", the "deep" network), the second reference encoder.

Three stages of ``conv 3x3 -> max-pool 3x3 stride 2 -> two residual blocks`` with 16, 32 and 32
channels; each residual block is ``x + conv(relu(conv(relu(x))))``. Then ReLU and flatten: at
84x84 the last map is 32 x 11 x 11, a 3,872-d vector. The paper's network ends in a 256-unit
linear layer with ReLU; in this package that is the encoder's projection
(:class:`mnv4_rl.encoders.FrameEncoder`, ``features_dim=256``), as for every other backbone.
No normalisation layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["IMPALA_CHANNELS", "ImpalaBackbone"]

IMPALA_CHANNELS = (16, 32, 32)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # not in place: x is the skip connection
        return x + self.conv1(F.relu(self.conv0(F.relu(x))))


class _Stage(nn.Module):
    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res0 = _ResidualBlock(channels)
        self.res1 = _ResidualBlock(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res1(self.res0(self.pool(self.conv(x))))


class ImpalaBackbone(nn.Module):
    """IMPALA-CNN's convolutional part: ``(B, C, H, W) -> (B, head_hidden_size)``.

    Args:
        in_channels: input channels (4 for a stack of 4 grey frames).
        height: input height; with ``width`` it fixes the flattened size.
        width: input width.
        channels: the stage widths (the paper's 16, 32, 32).
        channels_last: run the convolutions in channels-last memory format (faster on CPU).

    Attributes:
        head_hidden_size: the flattened output width, ``channels[-1] * ceil(H/8) * ceil(W/8)``
            (3,872 at 84x84), named as :class:`~mnv4_rl.MobileNetV4`'s pooled width.
        min_input_size: 1: every max-pool halves the side, rounding up.
    """

    min_input_size = 1

    def __init__(
        self,
        in_channels: int,
        height: int,
        width: int,
        channels: tuple[int, ...] = IMPALA_CHANNELS,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if height < 1 or width < 1:
            raise ValueError(f"height and width must be >= 1, got {height}x{width}")
        widths = (in_channels, *channels)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.stages = nn.Sequential(*(_Stage(a, b) for a, b in pairs))
        self.in_channels = in_channels
        self.input_size = (height, width)
        for _ in channels:
            height, width = (height + 1) // 2, (width + 1) // 2
        self.head_hidden_size = channels[-1] * height * width
        # Channels-last inputs make PyTorch's convs run channels-last; the weights stay
        # contiguous, as weight initialisers (SB3's orthogonal one among them) expect.
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"IMPALA-CNN was built for {self.input_size[0]}x{self.input_size[1]} inputs "
                f"(its flattened size depends on it), got {tuple(x.shape)}"
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return F.relu(self.stages(x)).flatten(1)
