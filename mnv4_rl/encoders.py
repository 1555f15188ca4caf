"""Frame encoders by name: the network every RL adapter wraps.

``FrameEncoder(space, "nano")`` is ``FrameInput -> backbone -> Linear(features_dim) -> ReLU``:
observations in any layout and value range in, a ``features_dim`` vector out. The backbone is a
MobileNetV4 (pooled 1280-d vector) or IMPALA-CNN (flattened last map). Framework-free: the SB3
extractors (:mod:`mnv4_rl.sb3`), the RLlib module (:mod:`mnv4_rl.rllib`) and the exporter build
this and only add their framework's contract.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .frames import FrameInput, FrameLayout, frame_stats, resolve_layout, resolve_value_range
from .models import create_model, load_pretrained, resolve_name
from .models.impala import ImpalaBackbone
from .weights import IMAGENET_MEAN, IMAGENET_STD, PRETRAINED, LoadSummary

__all__ = [
    "ENCODERS",
    "IMPALA",
    "FrameEncoder",
    "build_backbone",
    "check_features_dim",
    "default_norm",
]

IMPALA = "impala"

#: The encoder catalogue: names every adapter, example, benchmark and config accepts. Any other
#: :func:`mnv4_rl.create_model` name works too. Each framework adds its own baseline
#: (SB3's NatureCNN as ``"nature"``, RLlib's default CNN as ``"default"``).
ENCODERS = (
    IMPALA,
    "nano",
    "nano_rl",
    "small",
    "medium",
    "large",
    "hybrid_medium",
    "hybrid_large",
)

_RESIZE_HINT = (
    "resize the frames, e.g. gymnasium.wrappers.ResizeObservation(env, (84, 84)) or SB3's "
    "AtariWrapper (84x84)"
)


def default_norm(pretrained: object) -> str:
    """The ``norm`` used when none is given: ``"frozen"`` with pretrained weights, else ``"group"``.

    Pretrained weights come with ImageNet BatchNorm statistics: freezing them keeps what was learnt
    and makes train and eval mode compute the same function. From scratch, fixed statistics would be
    mean 0 / variance 1, i.e. no normalisation at all, so GroupNorm (also the same in train and eval
    mode, independent of the batch) is used. ``docs/normalisation.md`` has the measurements.
    """
    return "frozen" if pretrained else "group"


def check_features_dim(features_dim: object) -> None:
    """Raise a clear error unless ``features_dim`` is a positive integer."""
    if not isinstance(features_dim, int) or isinstance(features_dim, bool) or features_dim < 1:
        raise ValueError(f"features_dim must be a positive integer, got {features_dim!r}")


def _check_options(encoder: str, features_dim: int, model_kwargs: dict[str, Any]) -> None:
    check_features_dim(features_dim)
    rate = model_kwargs.get("drop_path_rate", 0.0)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {rate}")
    if encoder == IMPALA and model_kwargs.keys() - {"channels_last"}:
        raise ValueError(
            f"IMPALA-CNN takes no {sorted(model_kwargs.keys() - {'channels_last'})}: it has no "
            "normalisation, dropout or stochastic depth"
        )


def build_backbone(
    encoder: str,
    frames: FrameLayout,
    pretrained: bool | str | Path | dict | None = None,
    norm: str | None = None,
    **model_kwargs: Any,
) -> nn.Module:
    """The backbone for ``frames``: ``(B, k*c, H, W) -> (B, backbone.head_hidden_size)``.

    Args:
        encoder: ``"impala"`` or a :func:`mnv4_rl.create_model` name.
        frames: the observation's layout (:func:`mnv4_rl.frames.resolve_layout`).
        pretrained: MobileNetV4 only: ``True``, a hub id, a file or a state dict; the stem is
            adapted by the frame rule and the summary kept on ``backbone.pretrained_summary``.
        norm: MobileNetV4 only; ``None`` picks :func:`default_norm`.
        **model_kwargs: passed to :func:`mnv4_rl.create_model` (``drop_path_rate``...).
    """
    if encoder == IMPALA:
        if pretrained:
            raise ValueError("IMPALA-CNN has no pretrained weights; drop pretrained")
        if norm not in (None, "none"):
            raise ValueError(f"IMPALA-CNN has no normalisation layers; drop norm={norm!r}")
        return ImpalaBackbone(frames.channels, frames.height, frames.width, **model_kwargs)
    backbone = create_model(
        encoder,
        in_channels=frames.channels,
        num_classes=0,
        norm=norm or default_norm(pretrained),
        **model_kwargs,
    )
    smallest = min(frames.height, frames.width)
    if smallest < backbone.min_input_size:
        minimum = backbone.min_input_size
        raise ValueError(
            f"observation frames are {frames.height}x{frames.width}, but MobileNetV4 downsamples "
            f"by {minimum}: height and width must be at least {minimum}; {_RESIZE_HINT}"
        )
    if pretrained:
        frame_channels = frames.frame_channels if frames.frame_channels in (1, 3) else None
        load_pretrained(backbone, encoder, pretrained, frame_channels)
    return backbone


class FrameEncoder(nn.Module):
    """Observations of a frame space to a ``(batch, features_dim)`` vector.

    ``preprocess`` (:class:`~mnv4_rl.frames.FrameInput`: layout, value range, pretrained
    mean/std) ``-> backbone -> projection`` (``Linear(head_hidden_size, features_dim) -> ReLU``,
    as NatureCNN ends; for IMPALA-CNN it is the paper's 256-unit layer).

    Args:
        observation_space: a ``gymnasium.spaces.Box`` of frames (anything with ``shape``,
            ``dtype``, ``low`` and ``high``).
        encoder: ``"impala"`` or a :func:`mnv4_rl.create_model` name (``"nano"``, ``"small"``...).
        features_dim: output width.
        pretrained: ``None`` (random init), ``True`` (the variant's timm ImageNet weights), a hub
            id, a local ``.safetensors``/``.pth`` file or a state dict.
        norm: ``"batch"``, ``"group"`` or ``"frozen"``; ``None`` picks :func:`default_norm`.
        input_norm: normalise inputs with the checkpoint's mean/std (``PRETRAINED[variant]``);
            ``None``: exactly when ``pretrained`` is given.
        layout: ``"auto"`` or one of :data:`mnv4_rl.frames.LAYOUTS`.
        frame_channels: channels per frame (1 or 3); guessed for 3-D layouts when ``None``.
        in_channels: total channels ``k*c`` given explicitly, to accept frames that are neither
            gray nor RGB (channels are then used as they are).
        normalized_image: the values are already what the network should see (no warning for
            bounds other than ``[0, 1]``).
        scaled_by_framework: the framework divides these ``uint8`` frames by 255 itself.
        **model_kwargs: passed to :func:`mnv4_rl.create_model` (``drop_rate``,
            ``drop_path_rate``, ``channels_last``).

    Raises:
        ValueError: not an image shape, a channel count that is not k*1 or k*3, frames smaller
            than the network's minimum, or an option out of range; each message names the fix.
    """

    def __init__(
        self,
        observation_space: Any,
        encoder: str = "nano",
        features_dim: int = 512,
        pretrained: bool | str | Path | dict | None = None,
        norm: str | None = None,
        input_norm: bool | None = None,
        layout: str = "auto",
        frame_channels: int | None = None,
        in_channels: int | None = None,
        normalized_image: bool = False,
        scaled_by_framework: bool = False,
        **model_kwargs: Any,
    ) -> None:
        super().__init__()
        _check_options(encoder, features_dim, model_kwargs)
        frames = resolve_layout(observation_space.shape, layout, frame_channels, in_channels)
        value_range = resolve_value_range(
            observation_space,
            scaled_by_framework=scaled_by_framework,
            normalized_image=normalized_image,
        )
        self.encoder = encoder
        self.frames = frames
        self.features_dim = features_dim
        self.input_norm = bool(pretrained) if input_norm is None else input_norm
        self.norm = None if encoder == IMPALA else (norm or default_norm(pretrained))
        mean = std = None
        if self.input_norm:
            base = resolve_name(encoder)[0] if encoder != IMPALA else ""
            config = PRETRAINED.get(base)
            mean, std = frame_stats(
                frames, *((config.mean, config.std) if config else (IMAGENET_MEAN, IMAGENET_STD))
            )
        self.preprocess = FrameInput(frames, value_range, mean, std)
        self.backbone = build_backbone(encoder, frames, pretrained, self.norm, **model_kwargs)
        self.projection = nn.Sequential(
            nn.Linear(self.backbone.head_hidden_size, features_dim), nn.ReLU()
        )
        self.pretrained_summary: LoadSummary | None = getattr(
            self.backbone, "pretrained_summary", None
        )
        if self.pretrained_summary is not None and frames.guessed:
            self.pretrained_summary.notes.insert(0, frames.guessed)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(self.preprocess(observations)))

    def warn_pretrained(self, owner: str, stacklevel: int = 3) -> None:
        """Report the pretrained load (stem rule, classifier dropped...) as one warning."""
        if self.pretrained_summary is not None:
            warnings.warn(f"{owner}: {self.pretrained_summary}", UserWarning, stacklevel=stacklevel)

    def extra_repr(self) -> str:
        return (
            f"encoder={self.encoder!r}, features_dim={self.features_dim}, norm={self.norm!r}, "
            f"input_norm={self.input_norm}, pretrained={self.pretrained_summary is not None}"
        )
