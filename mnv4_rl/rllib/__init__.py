"""Ray RLlib integration (new API stack): a MobileNetV4 (or IMPALA-CNN) RLModule for PPO, APPO
and IMPALA, on one machine or a cluster.

    from ray.rllib.algorithms.ppo import PPOConfig
    from mnv4_rl.rllib import mnv4_module_spec

    config = PPOConfig().environment(...).rl_module(rl_module_spec=mnv4_module_spec("nano"))

The options mean what the SB3 extractor's options mean, and the frames are handled by the same
code (:class:`mnv4_rl.encoders.FrameEncoder`). Stable import path for checkpoints:
``mnv4_rl.rllib.MobileNetV4RLModule`` (defined in :mod:`mnv4_rl.rllib.module`).
"""

from .._extras import require

require("ray", "rllib", "the RLlib adapter")

from .module import MODULE_OPTIONS, MobileNetV4RLModule, mnv4_module_spec  # noqa: E402

__all__ = ["MODULE_OPTIONS", "MobileNetV4RLModule", "mnv4_module_spec"]
