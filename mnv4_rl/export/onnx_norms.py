"""GroupNorm written for ONNX Runtime.

A GroupNorm normalises each observation by its own statistics, so unlike BatchNorm it cannot be
folded into a convolution. ``torch.onnx.export`` writes it as run-time shape arithmetic
(``Shape``, ``Gather``), ``Reshape -> InstanceNormalization -> Reshape``, then the affine as a
broadcast ``Mul`` and ``Add``. :class:`OnnxGroupNorm` writes the same computation as four nodes:
reshapes with constant shapes, and the affine as one inference-mode ``BatchNormalization`` (mean
0, variance 1, epsilon 0: exactly ``x * weight + bias``). ONNX Runtime ran nano's policy 1.27x
faster in this form (``python benchmarks/groupnorm_export.py``, which compares the forms).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OnnxGroupNorm", "with_onnx_group_norms"]


class _GroupNormFunction(torch.autograd.Function):
    """``F.group_norm`` in PyTorch; the four-node form in ONNX (its ``symbolic``)."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        groups: int,
        eps: float,
        shape: tuple[int, ...],
    ) -> torch.Tensor:
        return F.group_norm(x, groups, weight, bias, eps)

    @staticmethod
    def symbolic(
        g: Any, x: Any, weight: Any, bias: Any, groups: int, eps: float, shape: tuple[int, ...]
    ) -> Any:
        def constant(values: torch.Tensor) -> Any:
            return g.op("Constant", value_t=values)

        # Reshape's 0 copies the (dynamic) batch size; -1 takes the rest.
        grouped = g.op("Reshape", x, constant(torch.tensor([0, groups, -1])))
        normed = g.op(
            "InstanceNormalization",
            grouped,
            constant(torch.ones(groups)),
            constant(torch.zeros(groups)),
            epsilon_f=eps,
        )
        restored = g.op("Reshape", normed, constant(torch.tensor([-1, *shape])))
        channels = shape[0]
        return g.op(
            "BatchNormalization",
            restored,
            weight,
            bias,
            constant(torch.zeros(channels)),
            constant(torch.ones(channels)),
            epsilon_f=0.0,
        )


class OnnxGroupNorm(nn.Module):
    """An affine :class:`torch.nn.GroupNorm` (sharing its parameters) in its ONNX Runtime form.

    Computes what the GroupNorm computes; only the exported graph differs. The input's
    non-batch sizes are fixed at export (the batch axis stays dynamic).
    """

    def __init__(self, norm: nn.GroupNorm) -> None:
        super().__init__()
        if not norm.affine:
            raise ValueError("OnnxGroupNorm needs an affine GroupNorm (affine=True)")
        self.groups, self.eps = norm.num_groups, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(int(size) for size in x.shape[1:])
        return _GroupNormFunction.apply(x, self.weight, self.bias, self.groups, self.eps, shape)


def with_onnx_group_norms(program: nn.Module) -> nn.Module:
    """``program`` itself if it has no affine GroupNorm, else a copy with each one replaced by
    :class:`OnnxGroupNorm`."""
    if not any(isinstance(m, nn.GroupNorm) and m.affine for m in program.modules()):
        return program
    program = copy.deepcopy(program)
    for parent in list(program.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.GroupNorm) and child.affine:
                setattr(parent, name, OnnxGroupNorm(child))
    return program
