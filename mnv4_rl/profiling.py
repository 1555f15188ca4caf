"""Parameter and MAC counts.

MACs follow the convention of the architecture reference: every conv, every linear layer and the
two attention matmuls of each Mobile MQA; BatchNorm, activations, pooling and adds are not counted.
"""

from __future__ import annotations

import torch
from torch import nn

from .modules import ConvNormAct, MobileMQA


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BatchNorm statistics are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _strided(size: int, conv: nn.Conv2d) -> int:
    return (size + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on one input of ``input_shape`` = (C, H, W).

    Counts ``nn.Conv2d`` (output elements x in/groups x kh x kw), ``nn.Linear`` (in x out) and each
    Mobile MQA's two attention matmuls (heads x queries x keys x (key_dim + value_dim)).
    """
    total = 0

    def on_conv(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    def on_linear(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output[0].numel() * module.in_features

    def on_attention(module: MobileMQA, inputs: tuple, _output: torch.Tensor) -> None:
        nonlocal total
        height, width = inputs[0].shape[-2:]
        keys = height * width
        if hasattr(module.key_down, "conv"):
            keys = _strided(height, module.key_down.conv) * _strided(width, module.key_down.conv)
        total += module.num_heads * height * width * keys * (module.key_dim + module.value_dim)

    hooks = {nn.Conv2d: on_conv, nn.Linear: on_linear, MobileMQA: on_attention}
    handles = [
        module.register_forward_hook(hook)
        for module in model.modules()
        for kind, hook in hooks.items()
        if isinstance(module, kind)
    ]
    was_training = model.training
    # Folded BatchNorm calls F.conv2d directly; count with the plain conv modules instead.
    folding = {m: m.fold_bn for m in model.modules() if isinstance(m, ConvNormAct)}
    for module in folding:
        module.fold_bn = False
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
        for module, fold in folding.items():
            module.fold_bn = fold
    return total
