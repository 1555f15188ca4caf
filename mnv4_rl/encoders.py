"""Frame encoders by name: the network every RL adapter wraps, and its options decided once.

:func:`resolve_options` turns the user's arguments and an observation space into one frozen
:class:`EncoderOptions`: the registry entry, the weight tag and its input statistics, the norm, how
values are scaled, the frame layout, the augmentation. :class:`FrameEncoder` builds from it::

    FrameInput -> augmentation (training mode only) -> backbone -> Linear(features_dim) -> ReLU

Framework-free: the SB3 extractors (:mod:`mnv4_rl.sb3`), the RLlib module (:mod:`mnv4_rl.rllib`)
and the exporter build this and only add their framework's contract. The encoders themselves are
the entries of :mod:`mnv4_rl.registry`.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .augment import DEFAULT_PAD, make_augmentation
from .frames import (
    FrameInput,
    FrameLayout,
    ValueRange,
    frame_stats,
    resolve_layout,
    resolve_value_range,
)
from .registry import EncoderEntry, input_stats, list_encoders, resolve_encoder, resolve_weights
from .weights import IMAGENET_STD, LoadSummary, PretrainedConfig, load_timm_weights

__all__ = [
    "ENCODERS",
    "EncoderOptions",
    "FrameEncoder",
    "check_features_dim",
    "default_norm",
    "resolve_options",
]

#: The encoder names every adapter accepts (a snapshot of :func:`mnv4_rl.list_encoders` with the
#: aliases); :func:`mnv4_rl.register_encoder` adds more. Each framework adds its own baseline.
ENCODERS = tuple(list_encoders(aliases=True))

_RESIZE_HINT = (
    "resize the frames, e.g. gymnasium.wrappers.ResizeObservation(env, (84, 84)) or SB3's "
    "AtariWrapper (84x84)"
)


def default_norm(pretrained: object, encoder: str = "nano") -> str | None:
    """The ``norm`` used when none is given: ``"frozen"`` with pretrained weights, else the
    entry's default from scratch (``"group"`` for MobileNetV4; ``None`` without norm layers).

    Pretrained weights come with ImageNet BatchNorm statistics: freezing them keeps what was learnt
    and makes train and eval mode compute the same function. From scratch, fixed statistics would be
    mean 0 / variance 1, i.e. no normalisation at all, so GroupNorm (also the same in train and eval
    mode, independent of the batch) is used. ``docs/normalisation.md`` has the measurements.
    """
    return resolve_encoder(encoder)[0].default_norm(bool(pretrained))


def check_features_dim(features_dim: object) -> None:
    """Raise a clear error unless ``features_dim`` is a positive integer."""
    if not isinstance(features_dim, int) or isinstance(features_dim, bool) or features_dim < 1:
        raise ValueError(f"features_dim must be a positive integer, got {features_dim!r}")


@dataclass(frozen=True)
class EncoderOptions:
    """Everything an encoder's construction depends on, decided once by :func:`resolve_options`.

    Attributes:
        encoder: the registry name (``"conv_small_050"`` for ``"nano"``).
        features_dim: the projection's width.
        frames: the observation's layout (stack size, channels per frame, size).
        scaling: how values reach ``[0, 1]`` (divided by 255 here or by the framework...).
        pretrained: the weights source as given (``True``, a tag, a hub id, a file, a state dict),
            or ``None``.
        weights: the checkpoint's config (tag, input size, mean/std) when pretrained.
        norm: the backbone's norm (``None`` for backbones without normalisation layers).
        input_norm: whether inputs are normalised with ``mean``/``std``.
        mean: per-colour mean (3 values) the inputs are normalised with, or ``None``.
        std: per-colour std, with ``mean``.
        augment: the training-time augmentation (``"shift"``) or ``None``.
        pad: the augmentation's pad in pixels.
        model_kwargs: further backbone options, as sorted ``(key, value)`` pairs.
        load_summary: what loading the pretrained weights did (set once they are loaded).
        notes: what was decided on the user's behalf, in words.
        load_weights: whether the pretrained weights are read (``False`` when a saved model's
            weights replace them).
        stem_std: the checkpoint's per-colour std, which the grey-frame stem rule weighs with.
    """

    encoder: str
    features_dim: int
    frames: FrameLayout
    scaling: ValueRange = ValueRange()
    pretrained: Any = None
    weights: PretrainedConfig | None = None
    norm: str | None = None
    input_norm: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    augment: str | None = None
    pad: int = DEFAULT_PAD
    model_kwargs: tuple[tuple[str, Any], ...] = ()
    load_summary: LoadSummary | None = None
    notes: tuple[str, ...] = ()
    load_weights: bool = True
    stem_std: tuple[float, ...] = IMAGENET_STD

    @property
    def entry(self) -> EncoderEntry:
        """The registry entry."""
        return resolve_encoder(self.encoder)[0]

    def describe(self) -> str:
        """One line for ``repr``: the encoder, frames, norm, input statistics, weights, augmentation."""
        f = self.frames
        return (
            f"encoder={self.encoder!r}, features_dim={self.features_dim}, layout={f.layout!r}, "
            f"frames={f.frames}x{f.frame_channels}ch {f.height}x{f.width}, norm={self.norm!r}, "
            f"input_norm={self.input_norm}, "
            f"pretrained={self.weights.tag if self.weights else None}, augment={self.augment!r}"
        )

    def record(self) -> dict[str, Any]:
        """The options as plain data (what SB3 zips, RLlib checkpoints and exported programs
        record); a state dict given as ``pretrained`` is recorded as ``"a state dict"``."""
        pretrained = self.pretrained
        if pretrained is not None and not isinstance(pretrained, bool | str):
            pretrained = str(pretrained) if isinstance(pretrained, Path) else "a state dict"
        f = self.frames
        return {
            "encoder": self.encoder,
            "features_dim": self.features_dim,
            "frames": [f.layout, f.frames, f.frame_channels, f.height, f.width],
            "scaling": [self.scaling.divisor, self.scaling.offset],
            "pretrained": pretrained,
            "weights": self.weights.hub_id if self.weights else None,
            "norm": self.norm,
            "input_norm": self.input_norm,
            "mean": list(self.mean) if self.mean else None,
            "std": list(self.std) if self.std else None,
            "augment": self.augment,
            "pad": self.pad,
            "model_kwargs": {key: value for key, value in self.model_kwargs},
        }


def resolve_options(
    observation_space: Any,
    encoder: str = "nano",
    features_dim: int | None = None,
    *,
    pretrained: bool | str | Path | dict | None = None,
    norm: str | None = None,
    input_norm: bool | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    layout: str = "auto",
    frame_channels: int | None = None,
    in_channels: int | None = None,
    normalized_image: bool = False,
    scaled_by_framework: bool = False,
    augment: str | None = None,
    pad: int = DEFAULT_PAD,
    load_weights: bool = True,
    **model_kwargs: Any,
) -> EncoderOptions:
    """Decide every encoder option once, from the user's arguments and the observation space.

    Args:
        observation_space: a ``gymnasium.spaces.Box`` of frames (anything with ``shape``,
            ``dtype``, ``low`` and ``high``).
        encoder: a registry name or alias (:func:`mnv4_rl.list_encoders`), or timm's
            ``"mobilenetv4_<variant>[.<tag>]"``.
        features_dim: output width; ``None``: the entry's default (512; IMPALA-CNN 256).
        pretrained: ``None`` (random init), ``True`` (the tag's or default checkpoint), a weight
            tag, a hub id, a local ``.safetensors``/``.pth`` file or a state dict.
        norm: one of the entry's norms; ``None``: ``"frozen"`` with weights, else its default.
        input_norm: normalise inputs with the checkpoint's mean/std; ``None``: exactly when
            ``pretrained`` is given.
        mean: per-colour mean to normalise with instead of the checkpoint's (3 values).
        std: per-colour std, with ``mean``.
        layout: ``"auto"`` or one of :data:`mnv4_rl.frames.LAYOUTS`.
        frame_channels: channels per frame (1 or 3); guessed for 3-D layouts when ``None``.
        in_channels: total channels ``k*c`` given explicitly, for frames that are neither gray
            nor RGB (channels are then used as they are).
        normalized_image: the values are already what the network should see.
        scaled_by_framework: the framework divides these ``uint8`` frames by 255 itself.
        augment: a training-time augmentation of :data:`mnv4_rl.augment.AUGMENTATIONS`
            (``"shift"``), or ``None``.
        pad: the augmentation's largest shift in pixels (DrQ: 4 at 84x84).
        load_weights: read ``pretrained``; ``False`` builds with everything the weights imply
            (norm, input statistics) without reading them, for weights loaded afterwards from a
            saved model.
        **model_kwargs: the entry's further options (``drop_path_rate``, ``channels_last``...).

    Raises:
        ValueError: an unknown encoder, tag, norm, option or augmentation; not an image shape; a
            channel count that is not k*1 or k*3; a bad ``features_dim`` or ``pad``. Each message
            names the fix.
    """
    entry, tag = resolve_encoder(encoder)
    features_dim = entry.features_dim if features_dim is None else features_dim
    check_features_dim(features_dim)
    unknown = sorted(model_kwargs.keys() - set(entry.options))
    if unknown:
        raise ValueError(
            f"encoder {encoder!r} takes no option {', '.join(unknown)}; its options: "
            f"{', '.join(entry.options) or 'none'}"
        )
    rate = model_kwargs.get("drop_path_rate", 0.0)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {rate}")
    if norm is not None and norm not in entry.norms:
        known = f"known: {', '.join(entry.norms)}" if entry.norms else "it has none: drop norm"
        raise ValueError(f"unknown norm {norm!r} for encoder {encoder!r}; {known}")
    if (mean is None) != (std is None):
        raise ValueError("pass mean and std together (3 values each, one per colour)")

    frames = resolve_layout(observation_space.shape, layout, frame_channels, in_channels)
    scaling = resolve_value_range(
        observation_space,
        scaled_by_framework=scaled_by_framework,
        normalized_image=normalized_image,
    )
    make_augmentation(augment, pad, frames)  # an unknown name or a bad pad fails now
    source, weights, note = resolve_weights(entry, tag, pretrained)
    notes = [n for n in (frames.guessed, note) if n]

    given = source is not None
    input_norm = given if input_norm is None else bool(input_norm)
    if mean is None:
        mean, std = (weights.mean, weights.std) if weights else input_stats(encoder)
    return EncoderOptions(
        encoder=entry.name,
        features_dim=features_dim,
        frames=frames,
        scaling=scaling,
        pretrained=source,
        weights=weights,
        norm=norm or entry.default_norm(given),
        input_norm=input_norm,
        mean=tuple(mean) if input_norm else None,
        std=tuple(std) if input_norm else None,
        stem_std=tuple(std),
        augment=None if augment in (None, "none") else augment,
        pad=pad,
        model_kwargs=tuple(sorted(model_kwargs.items())),
        notes=tuple(notes),
        load_weights=load_weights,
    )


def _build_backbone(options: EncoderOptions) -> tuple[nn.Module, LoadSummary | None]:
    """The entry's backbone for ``options``, with the pretrained weights loaded (frame stem rule)."""
    frames = options.frames
    backbone = options.entry.build(frames, options.norm, **dict(options.model_kwargs))
    minimum = getattr(backbone, "min_input_size", 1)
    if min(frames.height, frames.width) < minimum:
        raise ValueError(
            f"observation frames are {frames.height}x{frames.width}, but encoder "
            f"{options.encoder!r} downsamples by {minimum}: height and width must be at least "
            f"{minimum}; {_RESIZE_HINT}"
        )
    if options.pretrained is None or not options.load_weights:
        return backbone, None
    summary = load_timm_weights(
        backbone,
        options.pretrained,
        verbose=False,
        frame_channels=frames.frame_channels if frames.frame_channels in (1, 3) else None,
        std=options.stem_std,
    )
    summary.notes[:0] = list(options.notes)
    return backbone, summary


class OptionsRecord(nn.Module):
    """Keeps :meth:`EncoderOptions.record` in the state dict, as the JSON text in a ``uint8``
    buffer (``<prefix>.options``), so saved SB3 models and RLlib checkpoints say how their encoder
    was built. Loading checks that the saved record names the same encoder and input statistics
    (the layout and scaling may differ: the weights are the same); state dicts saved before the
    record existed load as before.

    A tensor, not extra state, so every consumer of state dicts (``clone()``, RLlib's numpy
    conversion, ``weights_only`` loading) takes it as it takes weights.
    """

    _CHECKED = ("encoder", "mean", "std")

    def __init__(self, options: EncoderOptions) -> None:
        super().__init__()
        self.encoder_options = options
        text = json.dumps(options.record(), sort_keys=True)
        self.register_buffer("options", torch.tensor(list(text.encode()), dtype=torch.uint8))

    @staticmethod
    def saved(tensor: torch.Tensor) -> dict[str, Any]:
        """Decode a saved record (the ``uint8`` tensor of a state dict)."""
        return json.loads(bytes(tensor.cpu().tolist()).decode())

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
    ) -> None:  # noqa: ANN001
        key = prefix + "options"
        if key not in state_dict:
            return  # saved before the record existed
        saved, now = self.saved(state_dict[key]), self.encoder_options.record()
        differ = [k for k in self._CHECKED if saved.get(k) != now[k]]
        if differ:
            errors.append(
                f"the saved encoder was built with other options ({', '.join(differ)}: saved "
                f"{[saved.get(k) for k in differ]}, now {[now[k] for k in differ]}); build it "
                "with the options it was saved with"
            )

    def extra_repr(self) -> str:
        return f"encoder={self.encoder_options.encoder!r}"


class FrameEncoder(nn.Module):
    """Observations of a frame space to a ``(batch, features_dim)`` vector.

    ``preprocess`` (:class:`~mnv4_rl.frames.FrameInput`: layout, value range, input mean/std)
    ``-> augment`` (training mode only) ``-> backbone -> projection``
    (``Linear(head_hidden_size, features_dim) -> ReLU``, as NatureCNN ends; for IMPALA-CNN it is
    the paper's 256-unit layer).

    Args:
        observation_space: a ``gymnasium.spaces.Box`` of frames; or an :class:`EncoderOptions`
            (then no other argument).
        encoder: a registry name (:func:`mnv4_rl.list_encoders`).
        features_dim: output width; ``None``: the entry's default.
        **options: the other arguments of :func:`resolve_options` (``pretrained``, ``norm``,
            ``input_norm``, ``layout``, ``frame_channels``, ``augment``...).

    Attributes:
        options: the :class:`EncoderOptions` it was built from, with the ``load_summary``.
    """

    def __init__(
        self,
        observation_space: Any,
        encoder: str = "nano",
        features_dim: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if isinstance(observation_space, EncoderOptions):
            resolved = observation_space
        else:
            resolved = resolve_options(observation_space, encoder, features_dim, **options)
        backbone, summary = _build_backbone(resolved)
        self.options = dataclasses.replace(resolved, load_summary=summary)
        mean = std = None
        if resolved.input_norm:
            mean, std = frame_stats(resolved.frames, resolved.mean, resolved.std)
        self.preprocess = FrameInput(resolved.frames, resolved.scaling, mean, std)
        self.augment = make_augmentation(resolved.augment, resolved.pad, resolved.frames)
        self.backbone = backbone
        self.projection = nn.Sequential(
            nn.Linear(backbone.head_hidden_size, resolved.features_dim), nn.ReLU()
        )
        self.record = OptionsRecord(self.options)

    @property
    def frames(self) -> FrameLayout:
        return self.options.frames

    @property
    def features_dim(self) -> int:
        return self.options.features_dim

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(self.augment(self.preprocess(observations))))

    def warn_pretrained(self, owner: str, stacklevel: int = 3) -> None:
        """Report the pretrained load (stem rule, classifier dropped...) as one warning."""
        if self.options.load_summary is not None:
            warnings.warn(
                f"{owner}: {self.options.load_summary}", UserWarning, stacklevel=stacklevel
            )

    def extra_repr(self) -> str:
        return self.options.describe()
