"""mnv4_rl: MobileNetV4 vision encoders for reinforcement learning.

Quick start::

    import mnv4_rl
    model = mnv4_rl.create_model("conv_small", in_channels=4, num_classes=0)
"""

from . import models
from .accel import compile_model
from .encoders import EncoderOptions, FrameEncoder, resolve_options
from .models import *  # noqa: F403  (the family: create_model, the factories, the specs)
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
    *models.__all__,
    "PRETRAINED",
    "EncoderEntry",
    "EncoderOptions",
    "FrameEncoder",
    "LoadSummary",
    "WeightsNotFoundError",
    "compile_model",
    "count_macs",
    "count_params",
    "get_encoder",
    "list_encoders",
    "load_timm_weights",
    "register_encoder",
    "resolve_encoder",
    "resolve_options",
]
