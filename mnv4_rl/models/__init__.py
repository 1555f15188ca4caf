"""The MobileNetV4 family: spec tables, the model class and the factories."""

from .factory import (
    PRETRAINED,
    SEED_ALIASES,
    PretrainedConfig,
    create_model,
    custom_spec,
    list_models,
    mobilenet_v4_custom,
    mobilenet_v4_hybrid_large,
    mobilenet_v4_hybrid_medium,
    mobilenet_v4_large,
    mobilenet_v4_medium,
    mobilenet_v4_nano,
    mobilenet_v4_small,
    resolve_name,
)
from .mobilenetv4 import MobileNetV4, build_block
from .specs import VARIANTS, ConvBNAct, FusedIBSpec, ModelSpec, MQASpec, SESpec, UIBSpec

__all__ = [
    "PRETRAINED",
    "SEED_ALIASES",
    "VARIANTS",
    "ConvBNAct",
    "FusedIBSpec",
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
    "mobilenet_v4_custom",
    "mobilenet_v4_hybrid_large",
    "mobilenet_v4_hybrid_medium",
    "mobilenet_v4_large",
    "mobilenet_v4_medium",
    "mobilenet_v4_nano",
    "mobilenet_v4_small",
    "resolve_name",
]
