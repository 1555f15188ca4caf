"""The MobileNetV4 family: spec tables, the model class and the factories."""

from . import factory
from .factory import *  # noqa: F403
from .impala import ImpalaBackbone
from .mobilenetv4 import MobileNetV4, build_block
from .specs import (
    RL_VARIANTS,
    VARIANTS,
    ConvBNAct,
    FusedIBSpec,
    ModelSpec,
    MQASpec,
    SESpec,
    UIBSpec,
)

__all__ = [
    *factory.__all__,
    "RL_VARIANTS",
    "VARIANTS",
    "ConvBNAct",
    "FusedIBSpec",
    "ImpalaBackbone",
    "MQASpec",
    "MobileNetV4",
    "ModelSpec",
    "SESpec",
    "UIBSpec",
    "build_block",
]


def __getattr__(name: str) -> object:
    """``PRETRAINED`` (from the registry) and the deprecated ``SEED_ALIASES``."""
    return getattr(factory, name)
