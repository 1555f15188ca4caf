"""rl-zoo3 configs for every encoder, and the one table of rl-zoo's Atari hyperparameters.

rl-zoo3 cannot take an extractor class from YAML (rl-zoo issues #300, #316, #411), but its
``-conf`` option imports a Python module and reads its ``hyperparams`` dict. Each module
``mnv4_rl.zoo.<algo>_<encoder>`` is such a config: rl-zoo's own ``atari`` settings for the algorithm
with that encoder's ``policy_kwargs``::

    python -m rl_zoo3.train --algo ppo --env BreakoutNoFrameskip-v4 -conf mnv4_rl.zoo.ppo_nano

The modules are made on import for every algorithm of :data:`ATARI` and every encoder SB3 takes
(NatureCNN as ``nature``, and each name and alias of the registry, :func:`mnv4_rl.list_encoders`),
so an encoder added to the registry has its configs with no file to write. A module
``mnv4_rl.zoo.<algo>_<encoder>_shift`` adds DrQ's random shift (``augment="shift"``).

:data:`ATARI` is also where the examples and the benchmark take their defaults from.
"""

from __future__ import annotations

import copy
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__ = ["ALGOS", "ATARI", "config_modules", "encoders", "hyperparams_for", "schedule_start"]

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

#: The algorithms with rl-zoo Atari settings, hence config modules.
ALGOS = tuple(ATARI)
#: The suffix of the config modules with DrQ's random shift.
SHIFT = "_shift"


def encoders() -> tuple[str, ...]:
    """The encoders with config modules: every name SB3 takes (:func:`mnv4_rl.sb3.sb3_encoders`)."""
    from ..sb3 import sb3_encoders

    return sb3_encoders()


def __getattr__(name: str) -> Any:
    if name == "ENCODERS":  # read live: encoders registered since import have configs too
        return encoders()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def config_modules() -> list[str]:
    """Every config module name, ``mnv4_rl.zoo.<algo>_<encoder>[_shift]``."""
    return [
        f"{__name__}.{algo}_{encoder}{shift}"
        for algo in ALGOS
        for encoder in encoders()
        for shift in ("", SHIFT)
    ]


def schedule_start(value: float | str) -> float:
    """The initial value of a zoo hyperparameter: ``"lin_2.5e-4"`` -> 2.5e-4, ``1e-4`` -> 1e-4."""
    if isinstance(value, str):
        kind, _, start = value.partition("_")
        if kind != "lin":
            raise ValueError(f"unknown rl-zoo schedule {value!r}; expected 'lin_<value>'")
        return float(start)
    return float(value)


def hyperparams_for(
    algo: str, encoder: str, augment: str | None = None
) -> dict[str, dict[str, Any]]:
    """The ``hyperparams`` dict of ``mnv4_rl.zoo.<algo>_<encoder>``: ``{"atari": {...}}``.

    rl-zoo's Atari settings for ``algo`` with ``encoder``'s ``policy_kwargs`` from
    :func:`mnv4_rl.sb3.encoder_policy_kwargs` (merged with the zoo's own, e.g. A2C's RMSprop).
    With ``augment``, the encoder augments its training inputs, and DQN / QR-DQN use the DrQ
    policy whose target network shifts the next observations too
    (:func:`mnv4_rl.sb3.augmented.drq_policy`).
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
    options = {"augment": augment} if augment else {}
    policy_kwargs.update(encoder_policy_kwargs(encoder, algo, **options))
    if policy_kwargs:
        settings["policy_kwargs"] = policy_kwargs
    if augment:
        from ..sb3.augmented import drq_policy

        policy = drq_policy(algo)
        # rl-zoo3 imports a policy named by a dotted path; it cannot take a class.
        settings["policy"] = (
            policy if isinstance(policy, str) else f"{policy.__module__}.{policy.__qualname__}"
        )
    return {"atari": settings}


class _ConfigModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``mnv4_rl.zoo.<algo>_<encoder>[_shift]`` on import, for rl-zoo3's ``-conf``."""

    @staticmethod
    def _parse(fullname: str) -> tuple[str, str, str | None] | None:
        package, _, name = fullname.rpartition(".")
        if package != __name__:
            return None
        algo, _, encoder = name.partition("_")
        augment = None
        if encoder.endswith(SHIFT):
            encoder, augment = encoder[: -len(SHIFT)], "shift"
        if algo not in ATARI or encoder not in encoders():
            return None
        return algo, encoder, augment

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if self._parse(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin="mnv4_rl.zoo")

    def create_module(self, spec: Any) -> ModuleType | None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        algo, encoder, augment = self._parse(module.__name__)
        extra = f" with {augment} augmentation" if augment else ""
        module.__doc__ = f"rl-zoo3 config: {algo} on Atari with the {encoder!r} encoder{extra}."
        module.hyperparams = hyperparams_for(algo, encoder, augment)


if not any(isinstance(finder, _ConfigModules) for finder in sys.meta_path):
    sys.meta_path.append(_ConfigModules())
