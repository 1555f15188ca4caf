"""Universal Inverted Bottleneck (UIB) and its four named instances."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvNormAct, DropPath, LayerScale, make_divisible


class UIB(nn.Module):
    """Universal Inverted Bottleneck (MobileNetV4, Qin et al. 2024, section 3.2).

    ``[start DW kxk -> BN] -> 1x1 expand -> BN -> act -> [mid DW kxk -> BN -> act] -> 1x1 project -> BN``,
    then optional layer scale and a residual when shapes allow. A kernel of 0 leaves that depthwise
    conv out, which gives the four instances: ExtraDW (both), IB (mid only), ConvNeXt-like (start
    only) and FFN (neither). The stride sits on the mid DW if there is one, otherwise on the start DW.

    Args:
        in_channels: input width.
        out_channels: output width.
        start_kernel: start depthwise kernel (0 = none).
        mid_kernel: mid depthwise kernel (0 = none).
        stride: 1 or 2.
        expand_ratio: expanded width = ``make_divisible(in_channels * expand_ratio)``.
        act: activation name.
        norm: normalisation name.
        layer_scale_init: initial layer-scale value, or ``None`` for no layer scale.
        drop_path: stochastic-depth rate on the residual branch.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        start_kernel: int = 3,
        mid_kernel: int = 3,
        stride: int = 1,
        expand_ratio: float = 4.0,
        act: str = "relu",
        norm: str = "batch",
        layer_scale_init: float | None = None,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if stride > 1 and not (start_kernel or mid_kernel):
            raise ValueError(
                "a strided UIB needs a start or mid depthwise conv to carry the stride"
            )
        mid = make_divisible(in_channels * expand_ratio)
        start_stride = 1 if mid_kernel else stride
        self.dw_start = (
            ConvNormAct(
                in_channels, in_channels, start_kernel, start_stride, in_channels, None, norm
            )
            if start_kernel
            else nn.Identity()
        )
        self.pw_exp = ConvNormAct(in_channels, mid, 1, act=act, norm=norm)
        self.dw_mid = (
            ConvNormAct(mid, mid, mid_kernel, stride, mid, act, norm)
            if mid_kernel
            else nn.Identity()
        )
        self.pw_proj = ConvNormAct(mid, out_channels, 1, act=None, norm=norm)
        self.layer_scale = (
            LayerScale(out_channels, layer_scale_init)
            if layer_scale_init is not None
            else nn.Identity()
        )
        self.has_skip = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if self.has_skip and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pw_proj(self.dw_mid(self.pw_exp(self.dw_start(x))))
        out = self.layer_scale(out)
        return x + self.drop_path(out) if self.has_skip else out


def ExtraDW(
    in_channels: int, out_channels: int, start_kernel: int = 3, mid_kernel: int = 3, **kwargs
) -> UIB:  # noqa: N802
    """UIB with both depthwise convs (the paper's "ExtraDW")."""
    return UIB(in_channels, out_channels, start_kernel, mid_kernel, **kwargs)


def IB(in_channels: int, out_channels: int, kernel_size: int = 3, **kwargs) -> UIB:  # noqa: N802
    """UIB with the mid depthwise conv only: MobileNetV2's inverted bottleneck."""
    return UIB(in_channels, out_channels, 0, kernel_size, **kwargs)


def ConvNext(in_channels: int, out_channels: int, kernel_size: int = 3, **kwargs) -> UIB:  # noqa: N802
    """UIB with the start depthwise conv only (ConvNeXt-like)."""
    return UIB(in_channels, out_channels, kernel_size, 0, **kwargs)


def FFN(in_channels: int, out_channels: int, **kwargs) -> UIB:  # noqa: N802
    """UIB with no depthwise conv: two 1x1 convs (a pointwise feed-forward network)."""
    return UIB(in_channels, out_channels, 0, 0, **kwargs)
