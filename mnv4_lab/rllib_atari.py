"""Atari for RLlib: the env class the RLlib example trains on, and a final evaluation on raw scores.

:class:`RLlibAtari` is RLlib's own Atari pipeline (``wrap_atari_for_new_api_stack``: 64x64 grey,
frame skip 4 with max-pooling, noop reset, episodic life, FIRE reset, a 4-frame HWC stack of
float32 frames in [-1, 1]) plus sign-clipped rewards, which RLlib leaves to the user. An
importable class rather than a registered name, so remote env runners and a checkpoint restored
in a new process find it. ``evaluation=True`` plays full games (no episodic life) on raw scores.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.env.wrappers.atari_wrappers import (
    FireResetEnv,
    FrameStack,
    MaxAndSkipEnv,
    NoopResetEnv,
    NormalizedImageEnv,
    WarpFrame,
    wrap_atari_for_new_api_stack,
)

from .atari import register_ale
from .errors import UsageError

__all__ = ["RLlibAtari", "ale_id", "evaluate_module"]


def ale_id(game: str) -> str:
    """``"Pong"`` -> ``"ALE/Pong-v5"``; ``ALE/...-v5`` ids pass unchanged."""
    register_ale()
    env_id = game if game.startswith("ALE/") else f"ALE/{game}-v5"
    try:
        gym.spec(env_id)
    except gym.error.Error:
        raise UsageError(
            f"unknown Atari game {game!r}: pass a name such as 'Pong' or an id 'ALE/Pong-v5'"
        ) from None
    return env_id


class RLlibAtari(gym.Wrapper):
    """An ALE game through RLlib's Atari pipeline, built from ``env_config``.

    ``env_config`` keys: ``game`` (``"Pong"``), ``dim`` (64), ``framestack`` (4), ``evaluation``
    (False: episodic life and clipped rewards, as for training; True: full games, raw scores).
    Sticky actions are off (``repeat_action_probability=0``), as in SB3's ``NoFrameskip-v4``.
    """

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        dim, framestack = config.get("dim", 64), config.get("framestack", 4)
        base = gym.make(
            ale_id(config.get("game", "Pong")), frameskip=1, repeat_action_probability=0.0
        )
        if config.get("evaluation", False):
            env = gym.wrappers.TimeLimit(base, max_episode_steps=108_000)
            env = MaxAndSkipEnv(NormalizedImageEnv(WarpFrame(env, dim=dim)), skip=4)
            env = NoopResetEnv(env, noop_max=30)
            if "FIRE" in env.unwrapped.get_action_meanings():
                env = FireResetEnv(env)
            env = FrameStack(env, k=framestack)
        else:
            env = wrap_atari_for_new_api_stack(base, dim=dim, framestack=framestack)
            env = gym.wrappers.TransformReward(env, np.sign)
        super().__init__(env)


def evaluate_module(
    module: torch.nn.Module, env_config: dict[str, Any], episodes: int, seed: int, greedy: bool
) -> list[float]:
    """Raw scores of ``episodes`` full games played by an RLlib module (Discrete actions).

    ``greedy``: the most likely action; else actions sampled from the policy (rl-zoo's Atari
    default).
    """
    env = RLlibAtari({**env_config, "evaluation": True})
    generator = torch.Generator().manual_seed(seed)
    scores = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                batch = {Columns.OBS: torch.as_tensor(np.asarray(obs))[None]}
                logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0]
            if greedy:
                action = int(logits.argmax())
            else:
                action = int(torch.multinomial(logits.softmax(-1), 1, generator=generator))
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        scores.append(total)
    env.close()
    return scores
