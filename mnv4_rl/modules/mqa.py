"""Mobile multi-query attention (Mobile MQA), the attention block of the hybrid MobileNetV4s."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvNormAct, DropPath, LayerScale, make_norm


class MobileMQA(nn.Module):
    """Pre-norm multi-query attention block with optional key/value down-sampling.

    ``x + layer_scale(output(attention(query(BN(x)), key(down(BN(x))), value(down(BN(x))))))``.
    ``num_heads`` query heads share ONE key head and ONE value head (multi-query attention). With
    ``kv_stride > 1`` the keys and values are first spatially reduced by a strided depthwise conv +
    BN. Works for any height, width and batch size.

    Args:
        channels: input = output width.
        num_heads: query heads.
        key_dim: width of each query head and of the shared key.
        value_dim: width of the shared value (default ``key_dim``).
        kv_stride: spatial reduction of keys and values (1 = none).
        kv_kernel: kernel of the down-sampling depthwise conv.
        norm: normalisation name (pre-norm and the down-sampling norms).
        layer_scale_init: initial layer-scale value, or ``None``.
        drop_path: stochastic-depth rate on the residual branch.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 4,
        key_dim: int = 64,
        value_dim: int | None = None,
        kv_stride: int = 1,
        kv_kernel: int = 3,
        norm: str = "batch",
        layer_scale_init: float | None = None,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        value_dim = value_dim or key_dim
        self.num_heads, self.key_dim, self.value_dim = num_heads, key_dim, value_dim
        self.scale = key_dim**-0.5
        self.norm = make_norm(norm, channels)
        self.query = nn.Conv2d(channels, num_heads * key_dim, 1, bias=False)
        if kv_stride > 1:
            self.key_down = ConvNormAct(
                channels, channels, kv_kernel, kv_stride, channels, None, norm
            )
            self.value_down = ConvNormAct(
                channels, channels, kv_kernel, kv_stride, channels, None, norm
            )
        else:
            self.key_down = self.value_down = nn.Identity()
        self.key = nn.Conv2d(channels, key_dim, 1, bias=False)
        self.value = nn.Conv2d(channels, value_dim, 1, bias=False)
        self.output = nn.Conv2d(num_heads * value_dim, channels, 1, bias=False)
        self.layer_scale = (
            LayerScale(channels, layer_scale_init)
            if layer_scale_init is not None
            else nn.Identity()
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    @staticmethod
    def _tokens(t: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, H*W, C); a view when ``t`` is channels-last."""
        return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1, t.shape[1])

    @staticmethod
    def _project(tokens: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """A 1x1 conv applied to tokens, as the matrix product it is."""
        return F.linear(tokens, conv.weight.flatten(1))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention branch without norm, layer scale or residual: (B, C, H, W) -> same."""
        batch, channels, height, width = x.shape
        heads, queries = self.num_heads, height * width
        # Query channels are head-major (channel = head * key_dim + j), as in the reference.
        q = self._project(self._tokens(x), self.query).view(batch, queries, heads, self.key_dim)
        k = self._project(self._tokens(self.key_down(x)), self.key)  # (B, M, key_dim): one head
        v = self._project(self._tokens(self.value_down(x)), self.value)  # (B, M, value_dim)
        # Keys and values are shared, so every head's queries can attend in one call:
        # stack the heads along the query axis, (B, 1, heads * N, key_dim).
        q = q.transpose(1, 2).reshape(batch, 1, heads * queries, self.key_dim)
        out = F.scaled_dot_product_attention(q, k.unsqueeze(1), v.unsqueeze(1), scale=self.scale)
        # (B, heads, N, value_dim) -> (B, N, heads * value_dim): concatenated heads per token.
        out = out.view(batch, heads, queries, self.value_dim).transpose(1, 2)
        out = self._project(out.reshape(batch, queries, heads * self.value_dim), self.output)
        return out.view(batch, height, width, channels).permute(0, 3, 1, 2)  # channels-last NCHW

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.layer_scale(self.attention(self.norm(x))))
