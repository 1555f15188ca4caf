"""Parameter and MAC counts.

MACs follow the convention of the architecture reference: every conv, every linear layer and the
two attention matmuls of each Mobile MQA; BatchNorm, activations, pooling and adds are not counted.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

_aten = torch.ops.aten


def _cpu_attention_flops(
    query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# PyTorch counts its CUDA attention kernels; add the CPU one (same formula, 2 x the MACs).
_EXTRA_FORMULAS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
}


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BatchNorm statistics are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one eval-mode forward pass on one input of ``input_shape`` (C, H, W).

    Counted by PyTorch's ``FlopCounterMode`` at the operator level (convolutions, matrix products
    and attention; one MAC = two FLOPs), so the count does not depend on which kernels the model
    calls: a 1x1 conv done as a GEMM, or attention with its heads batched, counts the same.
    """
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
        with torch.no_grad(), counter:
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
