"""MobileNetV4 building blocks: one small module per block type."""

from .fused_ib import FusedIB
from .layers import (
    BatchNorm2d,
    ConvNormAct,
    DropPath,
    FrozenBatchNorm2d,
    LayerScale,
    make_activation,
    make_divisible,
    make_norm,
)
from .mqa import MobileMQA
from .se import SE
from .stem import Stem
from .uib import FFN, IB, UIB, ConvNext, ExtraDW

__all__ = [
    "FFN",
    "IB",
    "SE",
    "UIB",
    "BatchNorm2d",
    "ConvNext",
    "ConvNormAct",
    "DropPath",
    "ExtraDW",
    "FrozenBatchNorm2d",
    "FusedIB",
    "LayerScale",
    "MobileMQA",
    "Stem",
    "make_activation",
    "make_divisible",
    "make_norm",
]
