"""rl-zoo3 configs for every encoder, and the one table of rl-zoo's Atari hyperparameters.

rl-zoo3 cannot take an extractor class from YAML (rl-zoo issues #300, #316, #411), but its
``-conf`` option imports a Python module and reads its ``hyperparams`` dict. Each module
``mnv4_rl.zoo.<algo>_<encoder>`` is such a config: rl-zoo's own ``atari`` settings for the algorithm
with that encoder's ``policy_kwargs``::

    python -m rl_zoo3.train --algo ppo --env BreakoutNoFrameskip-v4 -conf mnv4_rl.zoo.ppo_nano

:data:`ATARI` is also where the examples and the benchmark take their defaults from.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["ALGOS", "ATARI", "ENCODERS", "hyperparams_for", "schedule_start"]

#: rl-zoo3 2.9.2's ``hyperparams/<algo>.yml``, key ``atari``, value for value. Schedules keep the
#: zoo's strings (``"lin_2.5e-4"``: linear decay from 2.5e-4 to 0); rl-zoo3 parses them itself.
ATARI: dict[str, dict[str, Any]] = {
    "ppo": {
        "env_wrapper": ["stable_baselines3.common.atari_wrappers.AtariWrapper"],
        "frame_stack": 4,
        "policy": "CnnPolicy",
        "n_envs": 8,
        "n_steps": 128,
        "n_epochs": 4,
        "batch_size": 256,
        "n_timesteps": 10_000_000.0,
        "learning_rate": "lin_2.5e-4",
        "clip_range": "lin_0.1",
        "vf_coef": 0.5,
        "ent_coef": 0.01,
    },
    "a2c": {
        "env_wrapper": ["stable_baselines3.common.atari_wrappers.AtariWrapper"],
        "frame_stack": 4,
        "policy": "CnnPolicy",
        "n_envs": 16,
        "n_timesteps": 10_000_000.0,
        "ent_coef": 0.01,
        "vf_coef": 0.25,
        # the zoo's string 'dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5))'
        "policy_kwargs": {"optimizer_class": "RMSpropTFLike", "optimizer_kwargs": {"eps": 1e-5}},
    },
    "dqn": {
        "env_wrapper": ["stable_baselines3.common.atari_wrappers.AtariWrapper"],
        "frame_stack": 4,
        "policy": "CnnPolicy",
        "n_timesteps": 10_000_000.0,
        "buffer_size": 100_000,
        "learning_rate": 1e-4,
        "batch_size": 32,
        "learning_starts": 100_000,
        "target_update_interval": 1000,
        "train_freq": 4,
        "gradient_steps": 1,
        "exploration_fraction": 0.1,
        "exploration_final_eps": 0.01,
        "optimize_memory_usage": False,
    },
    "qrdqn": {
        "env_wrapper": ["stable_baselines3.common.atari_wrappers.AtariWrapper"],
        "frame_stack": 4,
        "policy": "CnnPolicy",
        "n_timesteps": 10_000_000.0,
        "learning_starts": 50_000,
        "exploration_fraction": 0.025,
        "optimize_memory_usage": False,
    },
}

ALGOS = tuple(ATARI)
#: The encoders with a config module each (``mnv4_rl.zoo.<algo>_<encoder>``).
ENCODERS = ("nature", "impala", "nano", "nano_rl", "small", "medium")


def schedule_start(value: float | str) -> float:
    """The initial value of a zoo hyperparameter: ``"lin_2.5e-4"`` -> 2.5e-4, ``1e-4`` -> 1e-4."""
    if isinstance(value, str):
        kind, _, start = value.partition("_")
        if kind != "lin":
            raise ValueError(f"unknown rl-zoo schedule {value!r}; expected 'lin_<value>'")
        return float(start)
    return float(value)


def hyperparams_for(algo: str, encoder: str) -> dict[str, dict[str, Any]]:
    """The ``hyperparams`` dict of ``mnv4_rl.zoo.<algo>_<encoder>``: ``{"atari": {...}}``.

    rl-zoo's Atari settings for ``algo`` with ``encoder``'s ``policy_kwargs`` from
    :func:`mnv4_rl.sb3.encoder_policy_kwargs` (merged with the zoo's own, e.g. A2C's RMSprop).
    """
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

    from ..sb3 import encoder_policy_kwargs

    if algo not in ATARI:
        raise ValueError(
            f"unknown algo {algo!r}; rl-zoo Atari configs exist for {', '.join(ALGOS)}"
        )
    settings = copy.deepcopy(ATARI[algo])
    policy_kwargs = settings.pop("policy_kwargs", {})
    if policy_kwargs.get("optimizer_class") == "RMSpropTFLike":
        policy_kwargs["optimizer_class"] = RMSpropTFLike
    policy_kwargs.update(encoder_policy_kwargs(encoder, algo))
    if policy_kwargs:
        settings["policy_kwargs"] = policy_kwargs
    return {"atari": settings}
