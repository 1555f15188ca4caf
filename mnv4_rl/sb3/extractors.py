"""Stable-Baselines3 feature extractors: thin shells around :class:`mnv4_rl.encoders.FrameEncoder`.

The classes here are what SB3 stores (by module and name) in every saved model: keep them in this
module. The stable import paths are ``mnv4_rl.sb3.<ClassName>`` and
``mnv4_rl.sb3.extractors.<ClassName>``.

What the extractor receives is what SB3's ``preprocess_obs`` gives it: float tensors, divided by 255
only for 3-D ``uint8`` ``Box(0, 255)`` spaces (when the policy's ``normalize_images`` is on, its
default). Layouts, value ranges, the stem rule and pretrained normalisation are
:mod:`mnv4_rl.frames` and :mod:`mnv4_rl.encoders`, shared with the RLlib adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from .._compat import renamed_keyword
from ..accel import compile_model
from ..encoders import FrameEncoder, check_features_dim, default_norm
from ..frames import LAYOUTS, FrameLayout, resolve_layout
from ..lr_scale import mark_lr_scale
from ..weights import WeightsNotFoundError

__all__ = [
    "LAYOUTS",
    "EncoderExtractor",
    "FrameLayout",
    "ImpalaCNN",
    "MNv4HybridLargeExtractor",
    "MNv4HybridMediumExtractor",
    "MNv4LargeExtractor",
    "MNv4MediumExtractor",
    "MNv4NanoExtractor",
    "MNv4NanoRLExtractor",
    "MNv4SmallExtractor",
    "MobileNetV4CombinedExtractor",
    "MobileNetV4Extractor",
    "default_norm",
    "resolve_layout",
]

_LOAD_HINT = (
    "; if this happens while loading a saved SB3 model whose pretrained checkpoint has moved, "
    "load it with mnv4_rl.sb3.load_model(PPO, path), which needs only the saved weights"
)


def _check_box(space: spaces.Space, owner: str) -> None:
    if not isinstance(space, spaces.Box):
        hint = (
            "; use MobileNetV4CombinedExtractor (with MultiInputPolicy) for Dict spaces"
            if isinstance(space, spaces.Dict)
            else ""
        )
        raise TypeError(
            f"{owner} needs a gymnasium.spaces.Box of image frames, got "
            f"{type(space).__name__}{hint}"
        )


class EncoderExtractor(BaseFeaturesExtractor):
    """Any encoder of the registry (:func:`mnv4_rl.list_encoders`) as an SB3 features extractor.

    A :class:`~mnv4_rl.encoders.FrameEncoder`'s parts under the names saved models use
    (``preprocess`` and ``augment`` hold nothing in the state dict; ``backbone.*``,
    ``projection.*`` and the options record ``record._extra_state`` do). What it receives is what
    SB3's ``preprocess_obs`` gives it: float tensors, already divided by 255 for 3-D ``uint8``
    ``Box(0, 255)`` spaces; the options record that once (``options.scaling``).

    SB3's orthogonal init (``ortho_init=True``, run through ``module.apply``) would overwrite
    pretrained weights (SB3 issue #1541). For entries that keep their own initialisation
    (``own_init``: MobileNetV4) :meth:`apply` reaches the projection only; IMPALA-CNN gets SB3's
    init everywhere, as NatureCNN does.

    Args:
        observation_space: a ``Box`` of frames (see :data:`LAYOUTS`).
        encoder: a registry name or alias (``"nano"``, ``"impala"``...).
        features_dim: output width; ``None``: the entry's default (512; IMPALA-CNN 256).
        normalized_image: the (float) space holds what the network should see; silences the
            warning for bounds other than ``[0, 1]``.
        compile: run the backbone through ``torch.compile`` for calls without autograd (SB3's
            rollouts and predictions); training steps stay eager on the same parameters. See
            :func:`mnv4_rl.compile_model`.
        encoder_lr_scale: tag the backbone's parameters to learn at this fraction of the
            learning rate (read by an :func:`mnv4_rl.lr_scale.lr_scaled` optimiser;
            :func:`~mnv4_rl.sb3.encoder_policy_kwargs` sets both).
        **options: :func:`mnv4_rl.resolve_options` (``pretrained``, ``norm``, ``input_norm``,
            ``layout``, ``frame_channels``, ``in_channels``, ``augment``, ``pad``,
            ``drop_path_rate``, ``channels_last``...).

    Raises:
        TypeError: the space is not a ``Box``.
        ValueError: an unknown encoder or option, not an image shape, a channel count that is
            not k*1 or k*3, an image smaller than the network's minimum; each names the fix.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        encoder: str = "nano",
        features_dim: int | None = None,
        normalized_image: bool = False,
        compile: bool = False,
        encoder_lr_scale: float | None = None,
        **options: Any,
    ) -> None:
        _check_box(observation_space, type(self).__name__)
        if features_dim is not None:
            check_features_dim(features_dim)  # before SB3's bare assertion
        # SB3 divides 3-D uint8 [0, 255] image spaces by 255 itself; other spaces arrive as floats.
        sb3_scales = is_image_space(observation_space, check_channels=False)
        try:
            built = FrameEncoder(
                observation_space,
                encoder,
                features_dim,
                normalized_image=normalized_image,
                scaled_by_framework=sb3_scales,
                **options,
            )
        except WeightsNotFoundError as error:
            raise WeightsNotFoundError(f"{error}{_LOAD_HINT}") from error
        super().__init__(observation_space, built.features_dim)
        self.options = built.options
        self.preprocess = built.preprocess
        self.augment = built.augment
        self.backbone = built.backbone
        self.projection = built.projection
        self.record = built.record
        self.compile = compile
        self._compiled = None  # made on first use, kept out of state_dict and pickles
        if encoder_lr_scale is not None:  # read by the lr_scaled optimiser SB3 then builds
            mark_lr_scale(self.backbone, encoder_lr_scale)
        built.warn_pretrained(type(self).__name__, stacklevel=5)

    @property
    def frames(self) -> FrameLayout:
        return self.options.frames

    @property
    def norm(self) -> str | None:
        return self.options.norm

    @property
    def input_norm(self) -> bool:
        return self.options.input_norm

    @property
    def pretrained_summary(self) -> Any:
        return self.options.load_summary

    def _rollout_backbone(self) -> nn.Module:
        """The compiled backbone for autograd-free calls when ``compile=True``, else the backbone."""
        if not self.compile or torch.is_grad_enabled():
            return self.backbone
        if self._compiled is None:
            object.__setattr__(self, "_compiled", compile_model(self.backbone))
        return self._compiled

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_compiled"] = None  # compiled graphs do not pickle; rebuilt on first use
        return state

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = self.augment(self.preprocess(observations))
        return self.projection(self._rollout_backbone()(x))

    def apply(self, fn: Callable[[nn.Module], None]) -> EncoderExtractor:
        """Apply ``fn`` to every submodule, except the backbone of an ``own_init`` entry.

        SB3's ``ActorCriticPolicy`` runs ``extractor.apply(init_weights)`` (orthogonal init) when
        ``ortho_init=True``; this keeps pretrained (or MobileNet-initialised) backbone weights. To
        run a function over such a backbone too, call ``extractor.backbone.apply(fn)``.
        """
        if not self.options.entry.own_init:
            return super().apply(fn)
        self.projection.apply(fn)
        fn(self)
        return self

    def extra_repr(self) -> str:
        return self.options.describe()


class MobileNetV4Extractor(EncoderExtractor):
    """A MobileNetV4 encoder for frame stacks: ``observation -> (batch, features_dim)``.

    :class:`EncoderExtractor` with MobileNetV4's defaults and the keyword arguments earlier
    versions saved in SB3 zips. Network: the variant's pooled ``head_hidden_size`` (1280-d) vector,
    then ``Linear(1280, features_dim) -> ReLU`` (as NatureCNN ends).

    Input handling (all inside ``forward``, so SB3 needs no special wrapper):

    * layouts ``(k*c, H, W)``, ``(H, W, k*c)``, ``(k, H, W, c)``, ``(k, c, H, W)`` and ``(H, W)``
      (see :data:`LAYOUTS`), reordered to frame-major ``(k*c, H, W)``: frame 0's channels
      first, exactly as SB3's ``VecFrameStack`` concatenates them, so the same frames give the
      same features in every layout;
    * ``uint8`` ``[0, 255]`` spaces end up in ``[0, 1]``: SB3 divides 3-D image spaces by 255,
      the extractor divides the 2-D and 4-D ones (which SB3 only casts to float); float spaces
      are used as given (``[-1, 1]`` ones mapped to ``[0, 1]``), with one warning when their
      bounds are not an image range (``VecNormalize``'s, say);
    * with ``pretrained``: mean/std normalisation with the checkpoint's own statistics (per weight
      tag), and the RGB stem adapted to the stack by the frame rule
      (:func:`mnv4_rl.weights.adapt_stem_weight`).

    Args:
        observation_space: a ``Box`` of frames (see :data:`LAYOUTS`).
        encoder: a registry name (``"nano"``, ``"small"``, ``"conv_medium"``,
            ``"mobilenetv4_conv_small.e3600_r256_in1k"``...).
        features_dim: output width (the projection's).
        pretrained: ``None`` (random init), ``True`` (the variant's default checkpoint, or the
            tag's), a weight tag, a hub id, a local ``.safetensors``/``.pth`` file or a state dict.
        normalized_image: the (float) space holds what the network should see.
        norm: ``"batch"``, ``"group"`` or ``"frozen"``; ``None`` picks :func:`default_norm`.
        input_norm: normalise inputs with the checkpoint's mean/std; ``None``: exactly when
            ``pretrained`` is given.
        layout: ``"auto"`` or one of :data:`LAYOUTS`.
        frame_channels: channels per frame (1 or 3); guessed for 3-D layouts when ``None``.
        in_channels: total channels ``k*c`` given explicitly.
        compile: see :class:`EncoderExtractor`.
        variant: the old name of ``encoder`` (deprecated).
        **options: further :func:`mnv4_rl.resolve_options` arguments (``augment``, ``pad``,
            ``mean``, ``std``, ``drop_rate``, ``drop_path_rate``, ``channels_last``).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        encoder: str = "nano",
        features_dim: int = 512,
        pretrained: bool | str | Path | dict | None = None,
        normalized_image: bool = False,
        norm: str | None = None,
        input_norm: bool | None = None,
        layout: str = "auto",
        frame_channels: int | None = None,
        in_channels: int | None = None,
        compile: bool = False,
        variant: str | None = None,
        **options: Any,
    ) -> None:
        encoder = renamed_keyword(variant, encoder, "variant", "encoder", type(self).__name__)
        super().__init__(
            observation_space,
            encoder,
            features_dim,
            normalized_image,
            compile,
            pretrained=pretrained,
            norm=norm,
            input_norm=input_norm,
            layout=layout,
            frame_channels=frame_channels,
            in_channels=in_channels,
            **options,
        )
        self.variant = encoder  # the name as given, as earlier versions kept it


class ImpalaCNN(EncoderExtractor):
    """IMPALA-CNN (Espeholt et al. 2018), the second reference encoder, as an SB3 extractor.

    :class:`EncoderExtractor` with ``encoder="impala"``: three stages (conv 3x3, max-pool 3x3
    stride 2, two residual blocks) of 16, 32 and 32 channels, ReLU, flatten,
    ``Linear(features_dim=256) -> ReLU`` (:class:`mnv4_rl.models.impala.ImpalaBackbone`). No
    pretrained weights and no normalisation layers; SB3's orthogonal init reaches all of it.

    Args:
        observation_space: a ``Box`` of frames (see :data:`LAYOUTS`).
        features_dim: the width of the final linear layer (the paper's 256).
        normalized_image: as for :class:`EncoderExtractor`.
        **options: further :func:`mnv4_rl.resolve_options` arguments (``layout``,
            ``frame_channels``, ``in_channels``, ``channels_last``, ``augment``, ``pad``).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        features_dim: int = 256,
        normalized_image: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(observation_space, "impala", features_dim, normalized_image, **options)


def _fixed_encoder(class_name: str, encoder: str, what: str) -> type[MobileNetV4Extractor]:
    """A :class:`MobileNetV4Extractor` subclass with ``encoder`` fixed, defined in this module
    under ``class_name`` (SB3 saves it by that path)."""

    def __init__(
        self: MobileNetV4Extractor,
        observation_space: spaces.Space,
        features_dim: int = 512,
        **kwargs: Any,
    ) -> None:
        MobileNetV4Extractor.__init__(self, observation_space, encoder, features_dim, **kwargs)

    doc = f":class:`MobileNetV4Extractor` with ``encoder={encoder!r}`` ({what})."
    namespace = {"__init__": __init__, "__doc__": doc, "__module__": __name__}
    return type(class_name, (MobileNetV4Extractor,), namespace)


# One class per family member, usable with no argument:
# policy_kwargs=dict(features_extractor_class=MNv4NanoExtractor).
MNv4NanoExtractor = _fixed_encoder("MNv4NanoExtractor", "nano", "conv_small_050")
MNv4NanoRLExtractor = _fixed_encoder("MNv4NanoRLExtractor", "nano_rl", "nano, patchify stem")
MNv4SmallExtractor = _fixed_encoder("MNv4SmallExtractor", "small", "conv_small")
MNv4MediumExtractor = _fixed_encoder("MNv4MediumExtractor", "medium", "conv_medium")
MNv4LargeExtractor = _fixed_encoder("MNv4LargeExtractor", "large", "conv_large")
MNv4HybridMediumExtractor = _fixed_encoder(
    "MNv4HybridMediumExtractor", "hybrid_medium", "hybrid_medium"
)
MNv4HybridLargeExtractor = _fixed_encoder(
    "MNv4HybridLargeExtractor", "hybrid_large", "hybrid_large"
)


def _is_frames(space: spaces.Space, normalized_image: bool) -> bool:
    if not isinstance(space, spaces.Box) or len(space.shape) not in (3, 4):
        return False
    return space.dtype == np.uint8 or normalized_image


class MobileNetV4CombinedExtractor(BaseFeaturesExtractor):
    """For ``Dict`` spaces (``MultiInputPolicy``), as SB3's ``CombinedExtractor``.

    Every image key gets its own :class:`MobileNetV4Extractor` with ``cnn_output_dim`` outputs;
    every other key is flattened (SB3 one-hot encodes discrete ones first). The parts are
    concatenated.

    Args:
        observation_space: a ``Dict`` space.
        encoder: the encoder of every image key (a registry name).
        cnn_output_dim: ``features_dim`` of each image encoder.
        normalized_image: float image keys already hold values in ``[0, 1]``.
        image_keys: the keys to encode as images; default: every 3-D or 4-D ``Box`` that is
            ``uint8`` (or any dtype with ``normalized_image=True``).
        **extractor_kwargs: passed to each :class:`MobileNetV4Extractor` (``pretrained``,
            ``norm``, ``layout``...).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        encoder: str = "nano",
        cnn_output_dim: int = 256,
        normalized_image: bool = False,
        image_keys: list[str] | None = None,
        variant: str | None = None,
        **extractor_kwargs: Any,
    ) -> None:
        encoder = renamed_keyword(variant, encoder, "variant", "encoder", type(self).__name__)
        if not isinstance(observation_space, spaces.Dict):
            raise TypeError(
                f"MobileNetV4CombinedExtractor needs a gymnasium.spaces.Dict space, got "
                f"{type(observation_space).__name__}; use MobileNetV4Extractor for a Box of frames"
            )
        super().__init__(observation_space, features_dim=1)
        if image_keys is None:
            image_keys = [
                key
                for key, sub in observation_space.spaces.items()
                if _is_frames(sub, normalized_image)
            ]
        unknown = set(image_keys) - set(observation_space.spaces)
        if unknown:
            raise ValueError(
                f"image_keys {sorted(unknown)} are not in the space; keys: "
                f"{list(observation_space.spaces)}"
            )
        if not image_keys:
            raise ValueError(
                f"no image key in {observation_space}: image keys are 3-D or 4-D uint8 Boxes (or "
                "float ones with normalized_image=True); name them with image_keys=[...]"
            )
        self.image_keys = list(image_keys)
        extractors: dict[str, nn.Module] = {}
        total = 0
        for key, sub in observation_space.spaces.items():
            if key in self.image_keys:
                extractors[key] = MobileNetV4Extractor(
                    sub,
                    encoder,
                    cnn_output_dim,
                    normalized_image=normalized_image,
                    **extractor_kwargs,
                )
                total += cnn_output_dim
            else:
                extractors[key] = nn.Flatten()
                total += get_flattened_obs_dim(sub)
        self.extractors = nn.ModuleDict(extractors)
        self._features_dim = total

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([net(observations[key]) for key, net in self.extractors.items()], dim=1)
