"""The MobileNetV4 family: spec tables, the model class and the factories."""

from . import factory as _factory
from .factory import (
    OLD_PROJECT_NAMES,
    PretrainedConfig,
    create_model,
    custom_spec,
    list_models,
    load_pretrained,
    mobilenet_v4_custom,
    mobilenet_v4_hybrid_large,
    mobilenet_v4_hybrid_medium,
    mobilenet_v4_large,
    mobilenet_v4_medium,
    mobilenet_v4_nano,
    mobilenet_v4_small,
    resolve_name,
)
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
    "OLD_PROJECT_NAMES",
    "RL_VARIANTS",
    "VARIANTS",
    "ConvBNAct",
    "FusedIBSpec",
    "ImpalaBackbone",
    "MQASpec",
    "MobileNetV4",
    "ModelSpec",
    "PretrainedConfig",
    "SESpec",
    "UIBSpec",
    "build_block",
    "create_model",
    "custom_spec",
    "list_models",
    "load_pretrained",
    "mobilenet_v4_custom",
    "mobilenet_v4_hybrid_large",
    "mobilenet_v4_hybrid_medium",
    "mobilenet_v4_large",
    "mobilenet_v4_medium",
    "mobilenet_v4_nano",
    "mobilenet_v4_small",
    "resolve_name",
]


def __getattr__(name: str) -> object:
    """``PRETRAINED`` (from the registry) and the deprecated ``SEED_ALIASES``."""
    return getattr(_factory, name)
