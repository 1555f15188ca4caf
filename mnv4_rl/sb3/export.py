"""The SB3 export program, registered with :mod:`mnv4_rl.export` on import.

:class:`SB3Policy` turns a PPO, A2C, DQN, QR-DQN (sb3-contrib) or SAC model into one module from
raw observations to actions; SB3 ``.zip`` files are opened with :func:`mnv4_rl.sb3.load_model`.
"""

from __future__ import annotations

import copy
import functools
import zipfile
from pathlib import Path
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space, preprocess_obs
from torch import nn

from ..export import Adapter, ProgramOptions, example_batch, fuse_backbones, register_adapter

try:  # QR-DQN comes with sb3-contrib, which the sb3 extra does not require
    from sb3_contrib import QRDQN
except ImportError:  # pragma: no cover - the dev install has sb3-contrib
    QRDQN = None

__all__ = ["SB3_ALGOS", "SB3Policy", "sb3_algorithm"]

#: The algorithm names an SB3 ``.zip`` can be exported with (``algo=``).
SB3_ALGOS = ("ppo", "a2c", "dqn", "qrdqn", "sac")


def sb3_algorithm(algo: Any) -> type:
    """The SB3 algorithm class for ``algo``: a class (returned as is) or one of :data:`SB3_ALGOS`.

    Raises:
        ValueError: an unknown name.
        ImportError: ``"qrdqn"`` without sb3-contrib.
    """
    if isinstance(algo, type):
        return algo
    name = str(algo).lower().replace("-", "").replace("_", "")
    classes = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC, "qrdqn": QRDQN}
    if name not in classes:
        raise ValueError(f"unknown algorithm {algo!r}; known: {', '.join(SB3_ALGOS)}")
    if classes[name] is None:
        raise ImportError("QR-DQN needs the sb3-contrib package: pip install sb3-contrib")
    return classes[name]


def _kind(model: Any) -> str:
    """Which program shape the model takes: ``"ppo"`` (PPO, A2C), ``"dqn"``, ``"qrdqn"``, ``"sac"``."""
    kinds = [((PPO, A2C), "ppo"), ((DQN,), "dqn"), ((SAC,), "sac")]
    if QRDQN is not None:
        kinds.append(((QRDQN,), "qrdqn"))
    for classes, kind in kinds:
        if isinstance(model, classes):
            return kind
    raise ValueError(
        f"cannot export a {type(model).__name__}: supported are PPO, A2C, DQN, QR-DQN and SAC "
        "(its actor)"
    )


def _channel_last_to_first(obs: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, C, H, W), as SB3's VecTransposeImage does for the policy."""
    return obs.permute(0, 3, 1, 2)


def _to_float(obs: torch.Tensor) -> torch.Tensor:
    return obs.float()


def _image_to_float(obs: torch.Tensor) -> torch.Tensor:
    return obs.float() / 255.0


def _preprocessing(space: Any, normalize_images: bool) -> Any:
    """SB3's ``preprocess_obs`` for ``space``, with its decisions about the space taken once.

    For ``Box`` spaces the result is a float cast, divided by 255 for images; SB3 decides that
    with numpy on every call, which breaks ``torch.compile``'s graph.
    """
    if isinstance(space, spaces.Box):
        return _image_to_float if normalize_images and is_image_space(space) else _to_float
    return functools.partial(
        preprocess_obs, observation_space=space, normalize_images=normalize_images
    )


class SB3Policy(nn.Module):
    """An SB3 policy from observations to actions (and optional extras), deterministic.

    Built from copies of the policy's parts (never the whole policy, which caches its last
    action distribution): SB3's own preprocessing (``preprocess_obs``), the extractor(s) with
    BatchNorm fused, and the heads. Actions: argmax of the logits or (mean) Q-values for
    discrete actions; for ``Box`` actions the mean action clipped to the bounds (PPO, A2C) or
    squashed and rescaled to them (SAC), as ``model.predict(obs, deterministic=True)`` gives.

    Args:
        model: a trained SB3 / sb3-contrib algorithm.
        outputs: extra outputs after ``actions``: ``"logits"`` (PPO/A2C discrete),
            ``"q_values"`` (DQN, QR-DQN: the mean over quantiles), ``"values"`` (PPO/A2C).
        channel_last: take the env's channel-last frames (H, W, C) when SB3 transposed them
            for the policy (``VecTransposeImage``).

    Raises:
        ValueError: an unsupported algorithm, or an output it does not have.
    """

    def __init__(self, model: Any, outputs: tuple[str, ...] = (), channel_last: bool = False):
        super().__init__()
        policy = model.policy
        self.kind = _kind(model)
        known = {"ppo": ("logits", "values"), "dqn": ("q_values",), "qrdqn": ("q_values",)}
        allowed = known.get(self.kind, ())
        bad = [o for o in outputs if o not in allowed]
        if bad:
            raise ValueError(
                f"{type(model).__name__} has no output {bad[0]!r}; extra outputs it has: "
                f"{', '.join(allowed) or 'none'}"
            )
        self.outputs = tuple(outputs)
        self.output_names = ("actions", *self.outputs)
        self.channel_last = channel_last
        self.preprocess = _preprocessing(policy.observation_space, policy.normalize_images)
        space = policy.action_space
        self.continuous = space.dtype.kind == "f"
        if self.continuous:
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))
        if self.kind == "ppo":
            self.extractor = fuse_backbones(policy.pi_features_extractor)
            self.critic_extractor = (
                None
                if policy.share_features_extractor
                else fuse_backbones(policy.vf_features_extractor)
            )
            self.mlp = copy.deepcopy(policy.mlp_extractor)
            self.head = copy.deepcopy(policy.action_net)
            self.value = copy.deepcopy(policy.value_net)
        elif self.kind in ("dqn", "qrdqn"):
            net = policy.q_net if self.kind == "dqn" else policy.quantile_net
            self.extractor = fuse_backbones(net.features_extractor)
            self.head = copy.deepcopy(net.q_net if self.kind == "dqn" else net.quantile_net)
            self.n_quantiles = getattr(net, "n_quantiles", 1)
        else:  # SAC's actor
            actor = policy.actor
            self.extractor = fuse_backbones(actor.features_extractor)
            self.mlp, self.head = copy.deepcopy(actor.latent_pi), copy.deepcopy(actor.mu)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.channel_last:
            obs = _channel_last_to_first(obs)
        x = self.preprocess(obs)
        features = self.extractor(x)
        if self.kind in ("dqn", "qrdqn"):
            q_values = self.head(features)
            if self.kind == "qrdqn":
                q_values = q_values.view(q_values.shape[0], self.n_quantiles, -1).mean(dim=1)
            return self._pack(q_values.argmax(dim=1), q_values=q_values)
        if self.kind == "sac":
            mean = torch.tanh(self.head(self.mlp(features)))  # squashed to [-1, 1]
            return self._pack(self.low + 0.5 * (mean + 1.0) * (self.high - self.low))
        critic = features if self.critic_extractor is None else self.critic_extractor(x)
        head = self.head(self.mlp.forward_actor(features))
        values = self.value(self.mlp.forward_critic(critic)).squeeze(-1)
        if self.continuous:
            return self._pack(
                torch.maximum(torch.minimum(head, self.high), self.low), values=values
            )
        return self._pack(head.argmax(dim=1), logits=head, values=values)

    def _pack(self, actions: torch.Tensor, **extras: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (actions, *(extras[name] for name in self.outputs))


def _build(model: BaseAlgorithm, options: ProgramOptions) -> tuple[nn.Module, torch.Tensor]:
    space = model.policy.observation_space
    if not isinstance(space, spaces.Box):
        raise ValueError(
            f"cannot export a policy with a {type(space).__name__} observation space: the "
            "exported program takes one array; export the image encoder on its own, or use "
            "a Box observation"
        )
    if not isinstance(model.action_space, spaces.Discrete | spaces.Box):
        raise ValueError(f"cannot export {type(model.action_space).__name__} actions")
    shape = space.shape
    if options.channel_last:
        if len(shape) != 3:
            raise ValueError("channel_last=True needs 3-D (C, H, W) observations")
        shape = (shape[1], shape[2], shape[0])
    program = SB3Policy(model, options.outputs, options.channel_last)
    return program, example_batch(shape, space.dtype)


def _opens(path: Path) -> bool:
    # Every file is taken as an SB3 model (the one framework here that saves files); one that
    # is not gets a clear error from _load.
    return path.is_file()


def _load(path: Path, algo: Any) -> BaseAlgorithm:
    if not zipfile.is_zipfile(path) or "data" not in zipfile.ZipFile(path).namelist():
        raise ValueError(
            f"{path} is not an SB3 model zip (model.save writes one with a 'data' entry)"
        )
    if algo is None:
        raise ValueError(f"{path} is an SB3 zip: pass algo= (one of {', '.join(SB3_ALGOS)})")
    from .policies import load_model

    return load_model(sb3_algorithm(algo), path, device="cpu")


register_adapter(Adapter("SB3", (BaseAlgorithm,), _build, opens=_opens, load=_load))
