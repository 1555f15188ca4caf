"""Stable-Baselines3 integration: MobileNetV4 feature extractors and ``policy_kwargs`` helpers.

Stable import paths (SB3 stores the extractor class by module and name in every saved model):
``mnv4_rl.sb3.MobileNetV4Extractor``, ``mnv4_rl.sb3.MNv4NanoExtractor`` ... all defined in
:mod:`mnv4_rl.sb3.extractors`.
"""

from .._extras import require

require("stable_baselines3", "sb3", "the SB3 adapter")

from .extractors import (  # noqa: E402
    LAYOUTS,
    FrameLayout,
    ImpalaCNN,
    MNv4HybridLargeExtractor,
    MNv4HybridMediumExtractor,
    MNv4LargeExtractor,
    MNv4MediumExtractor,
    MNv4NanoExtractor,
    MNv4NanoRLExtractor,
    MNv4SmallExtractor,
    MobileNetV4CombinedExtractor,
    MobileNetV4Extractor,
    default_norm,
    resolve_layout,
)
from .policies import (  # noqa: E402
    ALGOS,
    SB3_ENCODERS,
    encoder_policy_kwargs,
    load_model,
    mnv4_policy_kwargs,
)

__all__ = [
    "ALGOS",
    "SB3_ENCODERS",
    "ImpalaCNN",
    "LAYOUTS",
    "FrameLayout",
    "MNv4HybridLargeExtractor",
    "MNv4HybridMediumExtractor",
    "MNv4LargeExtractor",
    "MNv4MediumExtractor",
    "MNv4NanoExtractor",
    "MNv4NanoRLExtractor",
    "MNv4SmallExtractor",
    "MobileNetV4CombinedExtractor",
    "MobileNetV4Extractor",
    "default_norm",
    "encoder_policy_kwargs",
    "load_model",
    "mnv4_policy_kwargs",
    "resolve_layout",
]
