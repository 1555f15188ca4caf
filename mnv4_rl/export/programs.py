"""The programs that get exported: a trained policy as one ``nn.Module`` from raw observations to
actions, with every preprocessing step inside and BatchNorm fused into the convolutions.

- :class:`SB3Policy`: PPO, A2C, DQN, QR-DQN (sb3-contrib) and the SAC actor;
- :class:`RLlibPolicy`: a :class:`mnv4_rl.rllib.MobileNetV4RLModule`;
- :class:`Classifier`: a :func:`mnv4_rl.create_model` network.

Each takes a batch of observations exactly as the policy's observation space holds them (its
dtype, ``uint8`` frames, and its layout; batch axis first) and returns ``actions`` first, then the
optional extra outputs (``logits``, ``q_values`` or ``values``).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch import nn

from ..models.mobilenetv4 import MobileNetV4

__all__ = ["Classifier", "RLlibPolicy", "SB3Policy", "fuse_backbones"]


def fuse_backbones(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every MobileNetV4's BatchNorm fused into its convolutions."""
    module = copy.deepcopy(module).eval()
    for child in module.modules():
        if isinstance(child, MobileNetV4):
            child.fuse_for_inference()
    return module


def _channel_last_to_first(obs: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, C, H, W), as SB3's VecTransposeImage does for the policy."""
    return obs.permute(0, 3, 1, 2)


def _to_float(obs: torch.Tensor) -> torch.Tensor:
    return obs.float()


def _image_to_float(obs: torch.Tensor) -> torch.Tensor:
    return obs.float() / 255.0


def _sb3_preprocessing(space: Any, normalize_images: bool) -> Any:
    """SB3's ``preprocess_obs`` for ``space``, with its decisions about the space taken once.

    For ``Box`` spaces the result is a float cast, divided by 255 for images; SB3 decides that
    with numpy on every call, which breaks ``torch.compile``'s graph.
    """
    from gymnasium import spaces
    from stable_baselines3.common.preprocessing import is_image_space, preprocess_obs

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
    """

    def __init__(self, model: Any, outputs: tuple[str, ...] = (), channel_last: bool = False):
        super().__init__()
        policy = model.policy
        self.kind = _sb3_kind(model)
        known = {"ppo": ("logits", "values"), "dqn": ("q_values",), "qrdqn": ("q_values",)}
        allowed = known.get(self.kind, ())
        bad = [o for o in outputs if o not in allowed]
        if bad:
            raise ValueError(
                f"{type(model).__name__} has no output {bad[0]!r}; extra outputs it has: "
                f"{', '.join(allowed) or 'none'}"
            )
        self.outputs = tuple(outputs)
        self.channel_last = channel_last
        self.preprocess = _sb3_preprocessing(policy.observation_space, policy.normalize_images)
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


def _sb3_kind(model: Any) -> str:
    name = type(model).__name__.lower()
    if name in ("ppo", "a2c"):
        return "ppo"
    if name in ("dqn", "qrdqn", "sac"):
        return name
    raise ValueError(
        f"cannot export a {type(model).__name__}: supported are PPO, A2C, DQN, QR-DQN and SAC "
        "(its actor)"
    )


class RLlibPolicy(nn.Module):
    """An RLlib :class:`~mnv4_rl.rllib.MobileNetV4RLModule` from observations to actions.

    Discrete: the argmax of the logits. ``Box``: the distribution's mean, clipped to the bounds
    (what an RLlib env runner sends to the env in greedy mode). Extra outputs: ``"logits"``
    (discrete), ``"values"``.
    """

    def __init__(self, module: nn.Module, outputs: tuple[str, ...] = ()) -> None:
        super().__init__()
        bad = [o for o in outputs if o not in ("logits", "values")]
        if bad:
            raise ValueError(f"RLlib modules have no output {bad[0]!r}; extras: logits, values")
        self.outputs = tuple(outputs)
        self.encoder = fuse_backbones(module.encoder)
        self.critic = fuse_backbones(module.critic_encoder) if module.critic_encoder else None
        self.pi, self.vf = copy.deepcopy(module.pi), copy.deepcopy(module.vf)
        space = module.action_space
        self.continuous = hasattr(space, "low")
        if self.continuous:
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.encoder(obs)
        head = self.pi(features)
        if self.continuous:
            mean = head[:, : head.shape[1] // 2]
            actions = torch.maximum(torch.minimum(mean, self.high), self.low)
        else:
            actions = head.argmax(dim=1)
        extras = {"logits": head}
        if "values" in self.outputs:
            critic_features = features if self.critic is None else self.critic(obs)
            extras["values"] = self.vf(critic_features).squeeze(-1)
        return (actions, *(extras[name] for name in self.outputs))


class Classifier(nn.Module):
    """A :func:`mnv4_rl.create_model` network, fused: float ``(B, C, H, W)`` -> ``(logits,)``."""

    def __init__(self, model: MobileNetV4) -> None:
        super().__init__()
        self.model = fuse_backbones(model)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.model(images),)
