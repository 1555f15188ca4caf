"""One registry of encoders: every backbone the RL adapters can build, by name.

An entry says how to build the backbone for a stack of frames, which checkpoints exist per weight
tag (hub id, input size, the mean/std each was trained with, top-1), its default norm, the norms and
options it accepts and its default output width. SB3, RLlib, export, the rl-zoo3 configs, the bench
and the study all read this table, so a new encoder is one :func:`register_encoder` call::

    from mnv4_rl import register_encoder
    register_encoder("tiny_cnn", lambda frames, norm: MyCNN(frames.channels), features_dim=256)

MobileNetV4's variants (timm's names, with the older project's short names as aliases), ``nano_rl``,
IMPALA-CNN and BBF's 4x-wide IMPALA-CNN are registered here. NatureCNN is not an entry: it stays
each framework's own baseline (SB3's ``"nature"``, RLlib's ``"default"``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .frames import FrameLayout
from .models.factory import OLD_PROJECT_NAMES, mobilenet_v4_custom
from .models.impala import IMPALA_CHANNELS, ImpalaBackbone
from .models.mobilenetv4 import MobileNetV4
from .models.specs import RL_VARIANTS, VARIANTS, ModelSpec
from .weights import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    PretrainedConfig,
)

__all__ = [
    "BASELINES",
    "OLD_PROJECT_NAMES",
    "PRETRAINED",
    "TIMM_WEIGHTS",
    "EncoderEntry",
    "get_encoder",
    "input_stats",
    "list_encoders",
    "register_encoder",
    "resolve_encoder",
    "resolve_weights",
]

#: Names the frameworks keep for their own baselines; never registry entries.
BASELINES = ("nature", "default")

#: ``build(frames, norm, **options) -> backbone``; the backbone maps ``(B, k*c, H, W)`` to
#: ``(B, backbone.head_hidden_size)`` and may say ``min_input_size``.
Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class EncoderEntry:
    """One encoder of the registry.

    Attributes:
        name: the registry name (``"conv_small"``, ``"impala"``).
        build: ``build(frames, norm, **options) -> backbone`` (see :data:`Builder`).
        description: one line for listings.
        features_dim: the default output width of the projection after the backbone.
        weights: checkpoints per weight tag; the first is the default (``pretrained=True``).
        norms: the ``norm`` values accepted, the default from scratch first; ``()``: the backbone
            has no normalisation layers.
        options: further keyword options ``build`` accepts (``drop_path_rate``...).
        aliases: other names for the same entry (the older project's ``"nano"``...).
        own_init: the backbone keeps its own initialisation: framework initialisers (SB3's
            orthogonal init) reach only the projection.
    """

    name: str
    build: Builder
    description: str = ""
    features_dim: int = 512
    weights: tuple[PretrainedConfig, ...] = ()
    norms: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    own_init: bool = False

    @property
    def tags(self) -> list[str]:
        """The weight tags, the default first."""
        return [cfg.tag for cfg in self.weights]

    def default_norm(self, pretrained: bool) -> str | None:
        """``"frozen"`` with pretrained weights (their BatchNorm statistics are kept and train
        and eval mode compute the same function), else the first of :attr:`norms`."""
        if not self.norms:
            return None
        return "frozen" if pretrained and "frozen" in self.norms else self.norms[0]

    def checkpoint(self, tag: str | None = None) -> PretrainedConfig:
        """The checkpoint of ``tag`` (the default one for ``None``).

        Raises:
            ValueError: no weights for this encoder, or an unknown tag (listing the known ones).
        """
        if not self.weights:
            raise ValueError(
                f"encoder {self.name!r} has no pretrained weights; drop pretrained (encoders with "
                f"weights: {', '.join(e.name for e in _REGISTRY.values() if e.weights)})"
            )
        if tag is None:
            return self.weights[0]
        for cfg in self.weights:
            if cfg.tag == tag:
                return cfg
        raise ValueError(f"encoder {self.name!r} has no weight tag {tag!r}; tags: {self.tags}")


_REGISTRY: dict[str, EncoderEntry] = {}
_ALIASES: dict[str, str] = {}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def register_encoder(
    name: str,
    build: Builder,
    *,
    description: str = "",
    features_dim: int = 512,
    weights: tuple[PretrainedConfig, ...] | list[PretrainedConfig] = (),
    norms: tuple[str, ...] | list[str] = (),
    options: tuple[str, ...] | list[str] = (),
    aliases: tuple[str, ...] | list[str] = (),
    own_init: bool = False,
    replace: bool = False,
) -> EncoderEntry:
    """Add an encoder to the registry; every adapter (SB3, RLlib, export, rl-zoo3, bench, study)
    accepts its name from then on.

    Args:
        name: letters, digits and ``_``, starting with a letter (``"@"``, ``"."`` and ``","``
            have meanings in encoder strings such as ``"nano@augment=shift"``).
        build: ``build(frames: FrameLayout, norm: str | None, **options) -> nn.Module``; the module
            maps ``(B, frames.channels, H, W)`` floats to ``(B, module.head_hidden_size)``.
        description: one line for listings.
        features_dim: the default width of the projection the adapters put after the backbone.
        weights: :class:`~mnv4_rl.weights.PretrainedConfig` per weight tag, the default first;
            they are loaded by :func:`mnv4_rl.weights.load_timm_weights`.
        norms: accepted ``norm`` values, the default from scratch first (``"frozen"`` becomes the
            default with pretrained weights when listed).
        options: further keyword options ``build`` accepts.
        aliases: other names for this entry.
        own_init: framework initialisers must not reach the backbone (see :class:`EncoderEntry`).
        replace: allow replacing an entry of the same name.

    Returns:
        The new :class:`EncoderEntry`.

    Raises:
        ValueError: a malformed or taken name, a baseline's name, or a bad ``features_dim``.
    """
    for label in (name, *aliases):
        if not isinstance(label, str) or not _NAME.fullmatch(label):
            raise ValueError(
                f"encoder name {label!r} must be letters, digits and '_', starting with a letter"
            )
        if label in BASELINES:
            raise ValueError(f"{label!r} names a framework's own baseline; choose another name")
        owner = _ALIASES.get(label) or (label if label in _REGISTRY else None)
        if owner is not None and not (replace and owner == name):
            raise ValueError(
                f"encoder name {label!r} is taken (by {owner!r}); pass replace=True to replace it"
            )
    if not isinstance(features_dim, int) or features_dim < 1:
        raise ValueError(f"features_dim must be a positive integer, got {features_dim!r}")
    entry = EncoderEntry(
        name, build, description, features_dim, tuple(weights), tuple(norms), tuple(options),
        tuple(aliases), own_init,
    )  # fmt: skip
    _REGISTRY[name] = entry
    _ALIASES.update(dict.fromkeys(aliases, name))
    return entry


def list_encoders(aliases: bool = False) -> list[str]:
    """The registry's names in registration order; with ``aliases``, the aliases after them."""
    return list(_REGISTRY) + (list(_ALIASES) if aliases else [])


def _unknown(name: object) -> ValueError:
    return ValueError(
        f"unknown encoder {name!r}; known: {', '.join(_REGISTRY)} (aliases: "
        f"{', '.join(_ALIASES)}; timm's 'mobilenetv4_<variant>[.<tag>]' works too), and each "
        f"framework's baseline ({', '.join(BASELINES)}). Add one with mnv4_rl.register_encoder"
    )


def resolve_encoder(name: str) -> tuple[EncoderEntry, str | None]:
    """The entry and weight tag an encoder name means.

    Accepts registry names, aliases (``"nano"``), the older project's ``"mobilenet_v4_<name>"`` and
    timm's names with or without a weight tag (``"mobilenetv4_conv_small.e3600_r256_in1k"``).

    Raises:
        ValueError: an unknown name (the message lists the known ones) or an unknown tag.
    """
    if not isinstance(name, str):
        raise TypeError(f"an encoder is named by a string, got {type(name).__name__}")
    base, _, tag = name.partition(".")
    for prefix in ("mobilenetv4_", "mobilenet_v4_"):
        base = base.removeprefix(prefix)
    base = _ALIASES.get(base, base)
    if base not in _REGISTRY:
        raise _unknown(name)
    entry = _REGISTRY[base]
    if tag:
        entry.checkpoint(tag)  # an unknown tag fails here, listing the known ones
    return entry, tag or None


def get_encoder(name: str) -> EncoderEntry:
    """The :class:`EncoderEntry` for ``name`` (see :func:`resolve_encoder`)."""
    return resolve_encoder(name)[0]


def resolve_weights(
    entry: EncoderEntry, tag: str | None, pretrained: Any
) -> tuple[Any, PretrainedConfig | None, str]:
    """What ``pretrained`` means for ``entry``: the source to read, its checkpoint config (input
    size, mean/std) and a note when the statistics had to be assumed.

    - ``None``/``False``: no weights;
    - ``True``: the tag's checkpoint (the default one without a tag);
    - a weight tag of the entry (``"e3600_r256_in1k"``) or one of its hub ids: that checkpoint,
      with its own statistics;
    - anything else (a file, another hub id, a state dict): read as given; its statistics are
      taken to be those of the tag's (or the default) checkpoint, ImageNet's for an entry
      without published weights, and the note says so (the config is ``None`` then).

    Raises:
        ValueError: ``True`` for an entry without published weights.
    """
    if pretrained is None or pretrained is False:
        return None, None, ""
    if pretrained is True:
        cfg = entry.checkpoint(tag)
        return cfg.hub_id, cfg, ""
    if isinstance(pretrained, str):
        text = pretrained.removeprefix("hf-hub:").removeprefix("hf_hub:")
        for cfg in entry.weights:
            if text in (cfg.tag, cfg.hub_id, cfg.hub_id.removeprefix("timm/")):
                return cfg.hub_id, cfg, ""
    if not entry.weights:  # an own checkpoint of an encoder without published weights
        return (
            pretrained,
            None,
            (
                "input statistics: ImageNet's assumed for this checkpoint (pass mean= and std= if it "
                "was trained with others)"
            ),
        )
    cfg = entry.checkpoint(tag)
    note = (
        f"input statistics: mean {cfg.mean}, std {cfg.std} of {cfg.hub_id} assumed for this "
        "checkpoint (pass mean= and std= if it was trained with others)"
    )
    return pretrained, cfg, note


def input_stats(
    encoder: str, pretrained: Any = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-colour mean and std inputs of ``encoder`` are normalised with: those of the
    checkpoint ``pretrained`` means (:func:`resolve_weights`), else of the name's weight tag or the
    entry's default checkpoint, else ImageNet's (an entry without weights)."""
    entry, tag = resolve_encoder(encoder)
    cfg = resolve_weights(entry, tag, pretrained)[1] if pretrained else None
    if cfg is None and entry.weights:
        cfg = entry.checkpoint(tag)
    return (cfg.mean, cfg.std) if cfg else (IMAGENET_MEAN, IMAGENET_STD)


# ---------------------------------------------------------------------------------------------
# MobileNetV4: timm's family and nano_rl.

_MNV4_NORMS = ("group", "batch", "frozen")
_MNV4_OPTIONS = ("drop_rate", "drop_path_rate", "channels_last")


def _timm(hub: str, size: int, top1: float | None = None, inception: bool = False):
    stats = (INCEPTION_MEAN, INCEPTION_STD) if inception else ()
    return PretrainedConfig(f"timm/mobilenetv4_{hub}", size, *stats, top1=top1)


# timm's pretrained cfgs, tag by tag (timm 1.0: input size, mean/std); top-1 from timm's results
# table where this package records it. The default checkpoint of each variant comes first.
TIMM_WEIGHTS: dict[str, tuple[PretrainedConfig, ...]] = {
    "conv_small": (
        _timm("conv_small.e2400_r224_in1k", 224, 73.756),
        _timm("conv_small.e1200_r224_in1k", 224),
        _timm("conv_small.e3600_r256_in1k", 256, inception=True),
    ),
    "conv_small_050": (_timm("conv_small_050.e3000_r224_in1k", 224, 64.778, inception=True),),
    "conv_medium": (
        _timm("conv_medium.e500_r256_in1k", 256, 79.916),
        _timm("conv_medium.e500_r224_in1k", 224),
        _timm("conv_medium.e250_r384_in12k_ft_in1k", 384),
        _timm("conv_medium.e180_r384_in12k", 384),
        _timm("conv_medium.e180_ad_r384_in12k", 384),
        _timm("conv_medium.e250_r384_in12k", 384),
    ),
    "conv_large": (
        _timm("conv_large.e600_r384_in1k", 384, 82.974),
        _timm("conv_large.e500_r256_in1k", 256),
    ),
    "hybrid_medium": (
        _timm("hybrid_medium.ix_e550_r256_in1k", 256, 81.478),
        _timm("hybrid_medium.ix_e550_r384_in1k", 384),
        _timm("hybrid_medium.e500_r224_in1k", 224),
        _timm("hybrid_medium.e200_r256_in12k_ft_in1k", 256),
        _timm("hybrid_medium.e200_r256_in12k", 256),
    ),
    "hybrid_large": (
        _timm("hybrid_large.ix_e600_r384_in1k", 384, 83.996),
        _timm("hybrid_large.e600_r384_in1k", 384),
    ),
}


def _mobilenetv4(spec: ModelSpec) -> Builder:
    def build(frames: FrameLayout, norm: str | None, **options: Any) -> MobileNetV4:
        return MobileNetV4(spec, frames.channels, num_classes=0, norm=norm or "group", **options)

    return build


for _spec in (*VARIANTS.values(), *RL_VARIANTS.values()):
    register_encoder(
        _spec.name,
        _mobilenetv4(_spec),
        description=(
            "MobileNetV4 for RL frames (ours; no ImageNet weights)"
            if _spec.name in RL_VARIANTS
            else f"MobileNetV4 {_spec.name} (timm mobilenetv4_{_spec.name})"
        ),
        weights=TIMM_WEIGHTS.get(_spec.name, ()),
        norms=_MNV4_NORMS,
        options=_MNV4_OPTIONS,
        aliases=tuple(o for o, n in OLD_PROJECT_NAMES.items() if n == _spec.name and o != n),
        own_init=True,
    )


def _custom(frames: FrameLayout, norm: str | None, **options: Any) -> MobileNetV4:
    return mobilenet_v4_custom(frames.channels, num_classes=0, norm=norm or "group", **options)


_CUSTOM_OPTIONS = tuple(
    name
    for name in inspect.signature(mobilenet_v4_custom).parameters
    if name not in ("in_channels", "num_classes", "kwargs")
)
register_encoder(
    "custom",
    _custom,
    description="the older project's custom MobileNetV4 (base_channels=..., stages=[...])",
    norms=_MNV4_NORMS,
    options=(*_CUSTOM_OPTIONS, *_MNV4_OPTIONS),
    own_init=True,
)


# ---------------------------------------------------------------------------------------------
# IMPALA-CNN: the second reference encoder, the flattened last map of three residual stages.


def _impala(channels: tuple[int, ...]) -> Builder:
    def build(frames: FrameLayout, norm: str | None, **options: Any) -> ImpalaBackbone:
        return ImpalaBackbone(frames.channels, frames.height, frames.width, channels, **options)

    return build


register_encoder(
    "impala",
    _impala(IMPALA_CHANNELS),
    description="IMPALA-CNN (Espeholt et al. 2018), 16-32-32 channels, the paper's 256 features",
    features_dim=256,
    options=("channels_last",),
)

register_encoder(
    "impala_x4",
    _impala(tuple(4 * c for c in IMPALA_CHANNELS)),
    description="IMPALA-CNN at 4x width (64-128-128), as BBF scaled it (Schwarzer et al. 2023)",
    features_dim=256,
    options=("channels_last",),
)

#: The default checkpoint of each MobileNetV4 variant with weights (all tags: ``entry.weights``).
PRETRAINED: dict[str, PretrainedConfig] = {
    entry.name: entry.weights[0] for entry in _REGISTRY.values() if entry.weights
}
