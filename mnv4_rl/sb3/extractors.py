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

from ..accel import compile_model
from ..encoders import IMPALA, FrameEncoder, check_features_dim, default_norm
from ..frames import LAYOUTS, FrameLayout, resolve_layout
from ..weights import WeightsNotFoundError

__all__ = [
    "LAYOUTS",
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


class _FrameExtractor(BaseFeaturesExtractor):
    """The SB3 shell: a :class:`FrameEncoder`'s parts under the names saved models use
    (``preprocess`` holds nothing in the state dict; ``backbone.*`` and ``projection.*`` do)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        encoder: str,
        features_dim: int,
        normalized_image: bool,
        **encoder_kwargs: Any,
    ) -> None:
        _check_box(observation_space, type(self).__name__)
        check_features_dim(features_dim)  # before SB3's bare assertion
        super().__init__(observation_space, features_dim)
        # SB3 divides 3-D uint8 [0, 255] image spaces by 255 itself; other spaces arrive as floats.
        sb3_scales = is_image_space(observation_space, check_channels=False)
        try:
            built = FrameEncoder(
                observation_space,
                encoder,
                features_dim,
                normalized_image=normalized_image,
                scaled_by_framework=sb3_scales,
                **encoder_kwargs,
            )
        except WeightsNotFoundError as error:
            raise WeightsNotFoundError(f"{error}{_LOAD_HINT}") from error
        self.frames: FrameLayout = built.frames
        self.norm = built.norm
        self.input_norm = built.input_norm
        self.pretrained_summary = built.pretrained_summary
        self.preprocess = built.preprocess
        self.backbone = built.backbone
        self.projection = built.projection
        built.warn_pretrained(type(self).__name__, stacklevel=5)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(self.preprocess(observations)))

    def extra_repr(self) -> str:
        f = self.frames
        return (
            f"layout={f.layout!r}, frames={f.frames}x{f.frame_channels}ch {f.height}x{f.width}, "
            f"norm={self.norm!r}, input_norm={self.input_norm}, "
            f"pretrained={self.pretrained_summary is not None}"
        )


class MobileNetV4Extractor(_FrameExtractor):
    """A MobileNetV4 encoder for frame stacks: ``observation -> (batch, features_dim)``.

    Network: ``create_model(variant, in_channels=k*c, num_classes=0)`` gives the pooled
    ``head_hidden_size`` (1280-d) vector, then a projection ``Linear(1280, features_dim) -> ReLU``
    (as NatureCNN ends), so the policy heads see a ``features_dim`` vector of the usual size.

    Input handling (all inside ``forward``, so SB3 needs no special wrapper):

    * layouts ``(k*c, H, W)``, ``(H, W, k*c)``, ``(k, H, W, c)``, ``(k, c, H, W)`` and ``(H, W)``
      (see :data:`LAYOUTS`), reordered to frame-major ``(k*c, H, W)``: frame 0's channels
      first, exactly as SB3's ``VecFrameStack`` concatenates them, so the same frames give the
      same features in every layout;
    * ``uint8`` ``[0, 255]`` spaces end up in ``[0, 1]``: SB3 divides 3-D image spaces by 255,
      the extractor divides the 2-D and 4-D ones (which SB3 only casts to float); float spaces
      are used as given (``[-1, 1]`` ones mapped to ``[0, 1]``), with one warning when their
      bounds are not an image range (``VecNormalize``'s, say);
    * with ``pretrained``: mean/std normalisation with the checkpoint's statistics (each RGB frame
      with the RGB mean/std, gray frames with their average), and the RGB stem adapted to the
      stack by the frame rule (:func:`mnv4_rl.weights.adapt_stem_weight`).

    SB3's orthogonal init (``ortho_init=True``, which ``ActorCriticPolicy`` runs through
    ``module.apply``) would overwrite pretrained weights (SB3 issue #1541). :meth:`apply` therefore
    reaches the projection only, never the backbone; the backbone keeps its checkpoint or its own
    (fan-out normal, MobileNet-style) initialisation.

    Args:
        observation_space: a ``Box`` of frames (see :data:`LAYOUTS`).
        variant: any :func:`mnv4_rl.create_model` name (``"nano"``, ``"small"``,
            ``"conv_medium"``...).
        features_dim: output width (the projection's).
        pretrained: ``None`` (random init), ``True`` (the variant's timm ImageNet weights), a hub
            id, a local ``.safetensors``/``.pth`` file or a state dict.
        normalized_image: the (float) space holds what the network should see; silences the
            warning for bounds other than ``[0, 1]``.
        norm: ``"batch"``, ``"group"`` or ``"frozen"``; ``None`` picks :func:`default_norm`.
        input_norm: normalise inputs with the variant's pretraining mean/std
            (``PRETRAINED[variant]``); ``None``: exactly when ``pretrained`` is given.
        layout: ``"auto"`` or one of :data:`LAYOUTS`.
        frame_channels: channels per frame (1 or 3); guessed for 3-D layouts when ``None``.
        in_channels: total channels ``k*c`` given explicitly, to accept frames that are neither
            gray nor RGB (channels are then used as they are).
        compile: run the backbone through ``torch.compile`` for calls without autograd (SB3's
            rollouts and predictions); training steps stay eager on the same parameters. The
            first rollout pays the compilation (tens of seconds on a small CPU); on failure it
            warns and stays eager. See :func:`mnv4_rl.compile_model`.
        **model_kwargs: passed to :func:`mnv4_rl.create_model` (``drop_rate``, ``drop_path_rate``,
            ``channels_last``).

    Raises:
        TypeError: the space is not a ``Box``.
        ValueError: not an image shape, a channel count that is not k*1 or k*3, an image smaller
            than the network's minimum (32x32), or an option out of range.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        variant: str = "nano",
        features_dim: int = 512,
        pretrained: bool | str | Path | dict | None = None,
        normalized_image: bool = False,
        norm: str | None = None,
        input_norm: bool | None = None,
        layout: str = "auto",
        frame_channels: int | None = None,
        in_channels: int | None = None,
        compile: bool = False,
        **model_kwargs: Any,
    ) -> None:
        if variant == IMPALA:
            raise ValueError("variant='impala' is not a MobileNetV4: use mnv4_rl.sb3.ImpalaCNN")
        super().__init__(
            observation_space,
            variant,
            features_dim,
            normalized_image,
            pretrained=pretrained,
            norm=norm,
            input_norm=input_norm,
            layout=layout,
            frame_channels=frame_channels,
            in_channels=in_channels,
            **model_kwargs,
        )
        self.variant = variant
        self.compile = compile
        self._compiled = None  # made on first use, kept out of state_dict and pickles

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
        return self.projection(self._rollout_backbone()(self.preprocess(observations)))

    def apply(self, fn: Callable[[nn.Module], None]) -> MobileNetV4Extractor:
        """Apply ``fn`` to the projection and this module, **not** to the backbone.

        SB3's ``ActorCriticPolicy`` runs ``extractor.apply(init_weights)`` (orthogonal init) when
        ``ortho_init=True``; this keeps pretrained (or MobileNet-initialised) backbone weights. To
        run a function over the backbone too, call ``extractor.backbone.apply(fn)``.
        """
        self.projection.apply(fn)
        fn(self)
        return self

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, " + super().extra_repr()


class ImpalaCNN(_FrameExtractor):
    """IMPALA-CNN (Espeholt et al. 2018), the second reference encoder, as an SB3 extractor.

    Three stages (conv 3x3, max-pool 3x3 stride 2, two residual blocks) of 16, 32 and 32
    channels, ReLU, flatten, ``Linear(features_dim=256) -> ReLU``
    (:class:`mnv4_rl.models.impala.ImpalaBackbone`). Same frame handling and errors as
    :class:`MobileNetV4Extractor`; no pretrained weights and no normalisation layers. SB3's
    orthogonal init reaches all of it, as it reaches NatureCNN.

    Args:
        observation_space: a ``Box`` of frames (see :data:`LAYOUTS`).
        features_dim: the width of the final linear layer (the paper's 256).
        normalized_image: as for :class:`MobileNetV4Extractor`.
        layout: ``"auto"`` or one of :data:`LAYOUTS`.
        frame_channels: channels per frame (1 or 3); guessed for 3-D layouts when ``None``.
        in_channels: total channels given explicitly (frames that are neither gray nor RGB).
        channels_last: run in channels-last memory format (faster on CPU).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        features_dim: int = 256,
        normalized_image: bool = False,
        layout: str = "auto",
        frame_channels: int | None = None,
        in_channels: int | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__(
            observation_space,
            IMPALA,
            features_dim,
            normalized_image,
            layout=layout,
            frame_channels=frame_channels,
            in_channels=in_channels,
            channels_last=channels_last,
        )


# One class per family member, usable with no argument:
# policy_kwargs=dict(features_extractor_class=MNv4NanoExtractor).
class MNv4NanoExtractor(MobileNetV4Extractor):
    """:class:`MobileNetV4Extractor` with ``variant="nano"`` (``conv_small_050``)."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, **kwargs: Any):
        super().__init__(observation_space, "nano", features_dim, **kwargs)


class MNv4NanoRLExtractor(MobileNetV4Extractor):
    """:class:`MobileNetV4Extractor` with ``variant="nano_rl"`` (nano behind a patchify stem)."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, **kwargs: Any):
        super().__init__(observation_space, "nano_rl", features_dim, **kwargs)


class MNv4SmallExtractor(MobileNetV4Extractor):
    """:class:`MobileNetV4Extractor` with ``variant="small"`` (``conv_small``)."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, **kwargs: Any):
        super().__init__(observation_space, "small", features_dim, **kwargs)


class MNv4MediumExtractor(MobileNetV4Extractor):
    """:class:`MobileNetV4Extractor` with ``variant="medium"`` (``conv_medium``)."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, **kwargs: Any):
        super().__init__(observation_space, "medium", features_dim, **kwargs)


class MNv4LargeExtractor(MobileNetV4Extractor):
    """:class:`MobileNetV4Extractor` with ``variant="large"`` (``conv_large``)."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, **kwargs: Any):
        super().__init__(observation_space, "large", features_dim, **kwargs)


class MNv4HybridMediumExtractor(MobileNetV4Extractor):
    """:class:`MobileNetV4Extractor` with ``variant="hybrid_medium"``."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, **kwargs: Any):
        super().__init__(observation_space, "hybrid_medium", features_dim, **kwargs)


class MNv4HybridLargeExtractor(MobileNetV4Extractor):
    """:class:`MobileNetV4Extractor` with ``variant="hybrid_large"``."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, **kwargs: Any):
        super().__init__(observation_space, "hybrid_large", features_dim, **kwargs)


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
        variant: the MobileNetV4 variant of every image encoder.
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
        variant: str = "nano",
        cnn_output_dim: int = 256,
        normalized_image: bool = False,
        image_keys: list[str] | None = None,
        **extractor_kwargs: Any,
    ) -> None:
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
                    variant,
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
