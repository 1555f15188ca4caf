"""Stable-Baselines3 integration: feature extractors for every encoder of the registry,
``policy_kwargs`` helpers, DrQ's augmentation, and the frozen-encoder VecEnv wrapper.

Stable import paths (SB3 stores the extractor class by module and name in every saved model):
``mnv4_rl.sb3.EncoderExtractor``, ``mnv4_rl.sb3.MobileNetV4Extractor``,
``mnv4_rl.sb3.MNv4NanoExtractor`` ... all defined in :mod:`mnv4_rl.sb3.extractors`.
"""

from .._extras import require

require("stable_baselines3", "sb3", "the SB3 adapter")

from . import extractors, frozen, policies  # noqa: E402
from .augmented import AugmentedNatureCNN, drq_policy  # noqa: E402
from .extractors import *  # noqa: E402, F403
from .frozen import *  # noqa: E402, F403
from .policies import *  # noqa: E402, F403

__all__ = [
    *extractors.__all__,
    *frozen.__all__,
    *policies.__all__,
    "AugmentedNatureCNN",
    "SB3_ENCODERS",  # noqa: F405 (module __getattr__)
    "drq_policy",
]


def __getattr__(name: str) -> object:
    if name == "SB3_ENCODERS":  # read live: encoders registered since import are in it
        return policies.sb3_encoders()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
