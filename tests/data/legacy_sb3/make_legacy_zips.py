"""How the zips beside this file were made: run at commit 7b99903 (before the frames/encoders
refactor), ``python make_legacy_zips.py OUT_DIR``, with ``tests/helpers.py``'s ``policy_scores``
(the same actions and scores that commit's copy of this script computed inline).
``tests/test_legacy_zips.py`` loads them with today's code and checks the saved actions and scores.

Small custom MobileNetV4s keep each zip small; the extractor classes and keyword arguments are
the ones users save (``MobileNetV4Extractor`` by reference, from ``mnv4_rl.sb3.extractors``).
"""

import sys
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv

from mnv4_rl.sb3 import mnv4_policy_kwargs

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from helpers import policy_scores  # noqa: E402

TINY = dict(base_channels=8, expanded_channels=16, num_heads=2, hidden_dim_classifier=32)
out = Path(sys.argv[1])
torch.manual_seed(0)
for algo, extra, channel_first in ((PPO, {}, True), (DQN, {"norm": "batch"}, False)):
    env = make_vec_env(
        lambda cf=channel_first: FakeImageEnv(36, 36, 4, discrete=True, channel_first=cf), 2
    )
    kwargs = mnv4_policy_kwargs(
        "custom",
        algo.__name__.lower(),
        features_dim=16,
        features_extractor_kwargs={**extra, **TINY},
    )
    short = (
        dict(n_steps=32, batch_size=32)
        if algo is PPO
        else dict(learning_starts=32, buffer_size=200)
    )
    model = algo("CnnPolicy", env, policy_kwargs=kwargs, seed=0, **short)
    model.learn(128)
    model.save(out / f"{algo.__name__.lower()}_custom.zip")
    space: spaces.Box = env.observation_space
    obs = np.stack([space.sample() for _ in range(5)])
    actions, scores = policy_scores(model, obs)
    np.savez(out / f"{algo.__name__.lower()}_expected.npz", obs=obs, actions=actions, scores=scores)
