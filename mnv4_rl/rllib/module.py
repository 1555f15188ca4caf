"""The RLModule: a frame encoder shared by actor and critic (or one each), a policy head and a
value head; a target copy of the encoder and policy head for APPO."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import (
    TARGET_NETWORK_ACTION_DIST_INPUTS,
    TargetNetworkAPI,
    ValueFunctionAPI,
)
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from .._compat import renamed_keyword
from ..augment import strip_augmentations
from ..encoders import FrameEncoder
from ..registry import get_encoder

__all__ = ["MODULE_OPTIONS", "MobileNetV4RLModule", "mnv4_module_spec"]

#: ``model_config`` keys and their defaults. The encoder options mean what they mean for the SB3
#: extractor (:class:`mnv4_rl.sb3.MobileNetV4Extractor`); ``separate_critic`` gives the value
#: function an encoder of its own (the default shares one, as RLlib's default Atari model does).
MODULE_OPTIONS: dict[str, Any] = {
    "encoder": "nano",
    "features_dim": None,  # the registry entry's default: 512 (IMPALA-CNN: 256, the paper's)
    "pretrained": None,
    "norm": None,
    "input_norm": None,
    "layout": "auto",
    "frame_channels": None,
    "in_channels": None,
    "normalized_image": False,
    "separate_critic": False,
    "drop_path_rate": 0.0,
    "augment": None,
    "pad": 4,
    # Read by mnv4_rl.rllib.lr_scale's learners: the backbone steps at this x lr (None: 1.0).
    "encoder_lr_scale": None,
}


def _policy_outputs(action_space: spaces.Space) -> int:
    """Width of the action-distribution inputs RLlib's default distributions expect."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)  # TorchCategorical: logits
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return 2 * int(action_space.shape[0])  # TorchDiagGaussian: mean, log std
    raise ValueError(
        f"action space {action_space} is not supported: MobileNetV4RLModule takes Discrete "
        "actions or a 1-D Box; flatten other Box actions with a wrapper"
    )


class MobileNetV4RLModule(TorchRLModule, ValueFunctionAPI, TargetNetworkAPI):
    """A MobileNetV4 or IMPALA-CNN actor-critic for RLlib's new API stack (PPO, APPO, IMPALA).

    ``obs -> FrameEncoder -> (pi: Linear -> action-distribution inputs, vf: Linear -> value)``.
    Observations arrive as the env gives them (RLlib's Atari pipeline: float ``[-1, 1]`` HWC
    stacks; other wrappers: ``uint8`` frames in any layout) and are handled by
    :mod:`mnv4_rl.frames`. Options come from ``model_config`` (:data:`MODULE_OPTIONS`).
    """

    def setup(self) -> None:
        config = {**MODULE_OPTIONS, **(self.model_config or {})}
        # RLlib adds its own default model settings (vf_share_layers...); those are not ours.
        unknown = set(config) - set(MODULE_OPTIONS) - {f.name for f in fields(DefaultModelConfig)}
        if unknown:
            raise ValueError(
                f"unknown model_config keys {sorted(unknown)}; known: {', '.join(MODULE_OPTIONS)}"
            )
        if not isinstance(self.observation_space, spaces.Box):
            raise TypeError(
                f"MobileNetV4RLModule needs a gymnasium.spaces.Box of image frames, got "
                f"{type(self.observation_space).__name__}"
            )
        encoder_kwargs = {
            key: config[key]
            for key in MODULE_OPTIONS
            if key
            not in (
                "encoder",
                "features_dim",
                "separate_critic",
                "drop_path_rate",
                "encoder_lr_scale",
            )
        }
        if config["drop_path_rate"]:
            encoder_kwargs["drop_path_rate"] = config["drop_path_rate"]

        def build() -> FrameEncoder:
            return FrameEncoder(
                self.observation_space, config["encoder"], config["features_dim"], **encoder_kwargs
            )

        self.encoder = build()
        width = self.encoder.features_dim
        self.critic_encoder = build() if config["separate_critic"] else None
        # RLlib's forward_train leaves the module in training mode, and the learner's GAE calls
        # compute_values outside it: a shift keyed to training mode would shift the value targets
        # too. The encoders therefore hold none; _forward_train alone applies it.
        self.augment = self.encoder.augment if config["augment"] not in (None, "none") else None
        for encoder in (self.encoder, self.critic_encoder):
            if encoder is not None:
                strip_augmentations(encoder)
        self.pi = nn.Linear(width, _policy_outputs(self.action_space))
        self.vf = nn.Linear(width, 1)
        # Small initial policy outputs (near-uniform actions), as RLlib's default heads start.
        nn.init.orthogonal_(self.pi.weight, gain=0.01)
        nn.init.zeros_(self.pi.bias)
        nn.init.orthogonal_(self.vf.weight, gain=1.0)
        nn.init.zeros_(self.vf.bias)

    # ---------------------------------------------------------------------------------- forward
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features = self.encoder(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.pi(features)}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        if self.augment is None:
            features = self.encoder(obs)
            value_features = features if self.critic_encoder is None else self.critic_encoder(obs)
        else:
            # The training batch alone is shifted, one draw per sample; the critic sees the same.
            frames = self.augment(self.encoder.preprocess(obs))
            features = self.encoder.projection(self.encoder.backbone(frames))
            critic = self.critic_encoder
            value_features = (
                features if critic is None else critic.projection(critic.backbone(frames))
            )
        return {
            Columns.ACTION_DIST_INPUTS: self.pi(features),
            Columns.EMBEDDINGS: value_features,
        }

    def compute_values(
        self, batch: dict[str, Any], embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        if embeddings is None:
            critic = self.critic_encoder or self.encoder
            embeddings = critic(batch[Columns.OBS])
        return self.vf(embeddings).squeeze(-1)

    # ------------------------------------------------------------------------- target networks
    def make_target_networks(self) -> None:
        self._target_encoder = make_target_network(self.encoder)
        self._target_pi = make_target_network(self.pi)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.encoder, self._target_encoder), (self.pi, self._target_pi)]

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features = self._target_encoder(batch[Columns.OBS])
        return {TARGET_NETWORK_ACTION_DIST_INPUTS: self._target_pi(features)}

    def get_non_inference_attributes(self) -> list[str]:
        """What env runners (inference only) leave out: the critic and the target networks."""
        names = ["vf", "_target_encoder", "_target_pi"]
        return names + (["critic_encoder"] if self.critic_encoder is not None else [])


def mnv4_module_spec(
    encoder: str = "nano", variant: str | None = None, **options: Any
) -> RLModuleSpec:
    """An ``RLModuleSpec`` for ``config.rl_module(rl_module_spec=...)``.

    Args:
        encoder: a registry name or alias (:func:`mnv4_rl.list_encoders`: ``"nano"``,
            ``"impala"``...); a misspelt name fails here, listing the known ones.
        variant: the old name of ``encoder`` (deprecated).
        **options: :data:`MODULE_OPTIONS` (``features_dim``, ``pretrained``, ``norm``,
            ``input_norm``, ``layout``, ``frame_channels``, ``in_channels``,
            ``normalized_image``, ``separate_critic``, ``drop_path_rate``, ``augment``,
            ``pad``), with the SB3 extractor's defaults and meanings (``augment="shift"``
            shifts the learner's training batches only, see ``docs/augmentation.md``).
            ``observation_space`` / ``action_space`` may be
            given to check the spaces now rather than when RLlib builds the module.

    Raises:
        ValueError: an unknown option (the message lists the known ones); with spaces given,
            the errors the module itself would raise.
    """
    spaces_given = {
        k: options.pop(k) for k in ("observation_space", "action_space") if k in options
    }
    encoder = renamed_keyword(variant, encoder, "variant", "encoder", "mnv4_module_spec")
    get_encoder(encoder)  # a misspelt name fails now, not when RLlib builds the module
    unknown = set(options) - set(MODULE_OPTIONS)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; known: {', '.join(MODULE_OPTIONS)}")
    spec = RLModuleSpec(
        module_class=MobileNetV4RLModule,
        model_config={**MODULE_OPTIONS, **options, "encoder": encoder},
        **spaces_given,
    )
    if len(spaces_given) == 2:
        spec.build()  # the module's own checks, now
    return spec
