"""Shared building pieces: channel rounding, activations, norms, drop-path, layer scale, conv-norm-act.

Every block in ``mnv4_rl.modules`` is built from these, so the conventions (padding, BatchNorm
settings, where drop-path and layer scale sit) are written down once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

CL = torch.channels_last

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "BatchNorm2d",
    "ConvNormAct",
    "DropPath",
    "folded_once",
    "FrozenBatchNorm2d",
    "LayerScale",
    "make_activation",
    "make_divisible",
    "make_norm",
]


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never dropping more than 10% below it.

    This is the MobileNet channel-rounding rule (also timm's), so widths match the reference exactly.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "gelu": nn.GELU,  # exact (erf) GELU, as the reference hybrid_large uses
    "silu": lambda: nn.SiLU(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
}


def make_activation(name: str | None) -> nn.Module:
    """Return a fresh activation module for ``name`` (``None`` gives ``nn.Identity``)."""
    if name is None:
        return nn.Identity()
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that also works on a single value per channel in train mode.

    A training-mode batch of one 1x1 map (batch size 1 at the pooled head, for example) has no
    variance to normalise with; PyTorch raises there. This layer then normalises with its running
    statistics, exactly as in eval mode, and leaves them unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.numel() == x.shape[1]:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm with fixed statistics: always normalises with the running mean and variance.

    The affine weight and bias still train. Train and eval mode compute the same function, which
    makes it the safest choice for RL (see ``docs/normalisation.md``). The state dict is the same as
    ``nn.BatchNorm2d``'s, so ImageNet checkpoints load unchanged.
    """

    uses_running_stats = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


def _group_norm(channels: int) -> nn.GroupNorm:
    # 8 channels a group where possible: widths in MobileNetV4 are multiples of 8.
    groups = channels // 8 if channels % 8 == 0 else 1
    return nn.GroupNorm(groups, channels)


NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": BatchNorm2d,
    "frozen": FrozenBatchNorm2d,
    "group": _group_norm,
}


def make_norm(name: str, channels: int) -> nn.Module:
    """Return a 2-D normalisation layer: ``"batch"``, ``"frozen"`` (fixed statistics) or ``"group"``."""
    try:
        return NORMS[name](channels)
    except KeyError:
        raise ValueError(f"unknown norm {name!r}; known: {sorted(NORMS)}") from None


class DropPath(nn.Module):
    """Stochastic depth: zero a sample's whole residual branch with probability ``rate`` in training."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class LayerScale(nn.Module):
    """Learnable per-channel scale on a residual branch (CaiT-style), ``gamma`` initialised small."""

    def __init__(self, channels: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


def _uses_running_stats(norm: nn.Module) -> bool:
    """True when ``norm`` currently computes a fixed affine map (so it can fold into a conv)."""
    if not isinstance(norm, nn.BatchNorm2d) or norm.running_mean is None:
        return False
    return not norm.training or getattr(norm, "uses_running_stats", False)


# Folded weights computed once for one no-grad forward pass of a whole network (folded_once);
# a context variable, so concurrent passes in other threads never see each other's.
_PASS_FOLDS: ContextVar[dict | None] = ContextVar("mnv4_rl_pass_folds", default=None)


@contextmanager
def folded_once(layers: Sequence[ConvNormAct]) -> Iterator[None]:
    """Fold every foldable layer of ``layers`` at once for the calls inside this block.

    A handful of ``torch._foreach_*`` ops for the whole network instead of about seven small ops
    per layer: the same values (the same operations, in the same order), computed from the live
    parameters at entry, so nothing can go stale. Only without autograd (rollouts, targets,
    inference); with autograd each layer folds itself, differentiably.
    """
    foldable = [m for m in layers if m.fold_bn and _uses_running_stats(m.bn)]
    if not foldable or torch.is_grad_enabled() or torch.compiler.is_compiling():
        yield
        return
    norms = [m.bn for m in foldable]
    scales = torch._foreach_add([n.running_var for n in norms], [n.eps for n in norms])
    torch._foreach_rsqrt_(scales)
    scales = torch._foreach_mul([n.weight for n in norms], scales)
    weights = torch._foreach_mul(
        [m.conv.weight for m in foldable], [s.view(-1, 1, 1, 1) for s in scales]
    )
    shifts = torch._foreach_mul([n.running_mean for n in norms], scales)
    biases = torch._foreach_sub([n.bias for n in norms], shifts)
    token = _PASS_FOLDS.set(
        dict(zip(map(id, foldable), zip(weights, biases, strict=True), strict=True))
    )
    try:
        yield
    finally:
        _PASS_FOLDS.reset(token)


class ConvNormAct(nn.Module):
    """Conv2d (no bias, "same" padding for odd kernels unless ``padding`` is given) -> norm -> act.

    Two fast paths, each exact up to float rounding (``tests/test_models.py``):

    - ``fold_bn``: when the norm is a BatchNorm that uses running statistics (eval mode, or
      ``"frozen"``), it is folded into the convolution: one conv with bias instead of conv +
      BatchNorm. The folded weights are computed from the live parameters at every call, never
      cached: a cache cannot see every way RL code changes weights (SB3's ``polyak_update``
      writes through ``param.data``, which bumps no version counter). A network folds all its
      layers at once per no-grad pass (:func:`folded_once`); the cost is independent of the
      batch (``benchmarks/fold_cost.py``).
    - ``pointwise_gemm``: a 1x1 stride-1 conv on a channels-last input is one matrix product over
      the ``(N*H*W, C)`` view, done with ``F.linear``; PyTorch's CPU conv takes a slower im2col
      path for these, and they are most of MobileNetV4's MACs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu",
        norm: str = "batch",
        padding: int | None = None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2 if padding is None else padding,
            groups=groups,
            bias=False,
        )
        self.bn = make_norm(norm, out_channels)
        self.act = make_activation(act)
        self.fold_bn = True  # set False to run the plain conv -> BN -> act path
        self.pointwise_gemm = True
        self._pointwise = kernel_size == 1 and stride == 1 and groups == 1

    def folded_weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The conv weight and bias that compute conv -> BatchNorm (running statistics) in one conv."""
        bn = self.bn
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        weight = self.conv.weight * scale.view(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        return weight, bias

    def _convolve(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        if self._pointwise and self.pointwise_gemm and x.is_contiguous(memory_format=CL):
            # (N, C, H, W) channels-last is an (N, H, W, C) buffer: one GEMM, no copies.
            out = F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias)
            return out.permute(0, 3, 1, 2)
        conv = self.conv
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def fuse(self) -> None:
        """Fold the BatchNorm into the conv for good: a conv with bias, no norm layer.

        For inference copies only (export, deployment): the fused weights no longer follow the
        BatchNorm parameters, which are gone. Raises ``ValueError`` for norms that depend on the
        batch (GroupNorm, BatchNorm in train mode).
        """
        if not _uses_running_stats(self.bn):
            raise ValueError(
                f"cannot fuse a {type(self.bn).__name__} in {'train' if self.training else 'eval'} "
                "mode: only BatchNorm with running statistics (eval mode, or norm='frozen') "
                "folds into a convolution"
            )
        with torch.no_grad():
            weight, bias = self.folded_weight_and_bias()
            conv = self.conv
            fused = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                conv.stride,
                conv.padding,
                conv.dilation,
                conv.groups,
                bias=True,
            ).to(weight.dtype)
            fused.weight.copy_(weight)
            fused.bias.copy_(bias)
        self.conv, self.bn = fused, nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fold_bn and _uses_running_stats(self.bn):
            folds = _PASS_FOLDS.get()
            given = folds.get(id(self)) if folds is not None else None
            weight, bias = given if given is not None else self.folded_weight_and_bias()
            return self.act(self._convolve(x, weight, bias))
        if self.pointwise_gemm:
            return self.act(self.bn(self._convolve(x, self.conv.weight, self.conv.bias)))
        return self.act(self.bn(self.conv(x)))
