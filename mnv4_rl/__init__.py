"""mnv4_rl: MobileNetV4 vision encoders for reinforcement learning.

Quick start::

    import mnv4_rl
    model = mnv4_rl.create_model("conv_small", in_channels=4, num_classes=0)
"""

from .accel import compile_model
from .encoders import EncoderOptions, FrameEncoder, resolve_options  # noqa: E402, I001
from .models import (
    RL_VARIANTS,
    VARIANTS,
    MobileNetV4,
    ModelSpec,
    create_model,
    list_models,
    mobilenet_v4_custom,
    mobilenet_v4_hybrid_large,
    mobilenet_v4_hybrid_medium,
    mobilenet_v4_large,
    mobilenet_v4_medium,
    mobilenet_v4_nano,
    mobilenet_v4_small,
)
from .profiling import count_macs, count_params
from .registry import (
    PRETRAINED,
    EncoderEntry,
    get_encoder,
    list_encoders,
    register_encoder,
    resolve_encoder,
)
from .weights import LoadSummary, WeightsNotFoundError, load_timm_weights

__version__ = "0.1.0"

__all__ = [
    "PRETRAINED",
    "EncoderEntry",
    "EncoderOptions",
    "FrameEncoder",
    "RL_VARIANTS",
    "VARIANTS",
    "LoadSummary",
    "MobileNetV4",
    "ModelSpec",
    "WeightsNotFoundError",
    "compile_model",
    "count_macs",
    "count_params",
    "create_model",
    "get_encoder",
    "list_encoders",
    "list_models",
    "load_timm_weights",
    "mobilenet_v4_custom",
    "mobilenet_v4_hybrid_large",
    "mobilenet_v4_hybrid_medium",
    "mobilenet_v4_large",
    "mobilenet_v4_medium",
    "mobilenet_v4_nano",
    "mobilenet_v4_small",
    "register_encoder",
    "resolve_encoder",
    "resolve_options",
]
