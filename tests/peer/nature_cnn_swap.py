"""pytest plugin: SB3's own CNN tests with the MobileNetV4 nano extractor in NatureCNN's place.

Loaded with ``-p nature_cnn_swap`` when ``tests/test_sb3_peer_suite.py`` runs SB3's
``tests/test_cnn.py`` (from the installed version's sdist). Every ``CnnPolicy`` SB3 ships builds
:class:`mnv4_rl.sb3.MNv4NanoExtractor` where it would build NatureCNN; nothing else changes.
"""

from __future__ import annotations

from stable_baselines3.common.policies import ActorCriticCnnPolicy
from stable_baselines3.common.torch_layers import NatureCNN
from stable_baselines3.dqn.policies import CnnPolicy as DQNCnnPolicy
from stable_baselines3.sac.policies import CnnPolicy as SACCnnPolicy
from stable_baselines3.td3.policies import CnnPolicy as TD3CnnPolicy

from mnv4_rl.sb3 import MNv4NanoExtractor

for policy in (ActorCriticCnnPolicy, DQNCnnPolicy, SACCnnPolicy, TD3CnnPolicy):
    init = policy.__init__
    defaults = init.__defaults__ or ()
    if NatureCNN not in defaults:
        raise RuntimeError(
            f"{policy.__qualname__} no longer defaults to NatureCNN: update this plugin"
        )
    init.__defaults__ = tuple(MNv4NanoExtractor if d is NatureCNN else d for d in defaults)
