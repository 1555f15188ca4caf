"""Model names, pretrained-weight metadata, ``create_model`` and the seed project's factories."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..weights import IMAGENET_STD, LoadSummary, PretrainedConfig, load_timm_weights
from .mobilenetv4 import MobileNetV4
from .specs import RL_VARIANTS, VARIANTS, ModelSpec, SESpec, fib, mqa, uib

# Every buildable spec by name: timm's family, then ours for RL.
SPECS: dict[str, ModelSpec] = {**VARIANTS, **RL_VARIANTS}

#: The older project's names, mapped onto the paper-faithful family.
OLD_PROJECT_NAMES: dict[str, str] = {
    "nano": "conv_small_050",
    "small": "conv_small",
    "medium": "conv_medium",
    "large": "conv_large",
    "hybrid_medium": "hybrid_medium",
    "hybrid_large": "hybrid_large",
}


def list_models(include_aliases: bool = False) -> list[str]:
    """Names accepted by :func:`create_model`: timm's variants, then the RL-shaped ones
    (``nano_rl``); with aliases, the seed and timm spellings too."""
    names = list(SPECS)
    if include_aliases:
        names += [n for n in OLD_PROJECT_NAMES if n not in VARIANTS] + ["custom"]
        names += [f"mobilenet_v4_{n}" for n in [*OLD_PROJECT_NAMES, "custom"]]
        names += [f"mobilenetv4_{n}" for n in VARIANTS]
    return names


def resolve_name(name: str) -> tuple[str, str | None]:
    """Map any accepted spelling to ``(variant, timm_tag)``.

    Accepts our names (``"conv_small"``), seed names (``"nano"``, ``"mobilenet_v4_small"``) and timm
    names with or without a weight tag (``"mobilenetv4_conv_small.e2400_r224_in1k"``).
    """
    base, _, tag = name.partition(".")
    for prefix in ("mobilenetv4_", "mobilenet_v4_"):
        if base.startswith(prefix):
            base = base[len(prefix) :]
    base = OLD_PROJECT_NAMES.get(base, base)
    if base not in SPECS and base != "custom":
        raise ValueError(
            f"unknown model {name!r}; known: {', '.join(list_models())} (also the seed names "
            f"{', '.join(OLD_PROJECT_NAMES)}, 'custom', and timm's 'mobilenetv4_<variant>')"
        )
    return base, tag or None


def create_model(
    name: str,
    in_channels: int = 3,
    num_classes: int = 1000,
    pretrained: bool | str | Path | dict | None = None,
    frame_channels: int | None = None,
    **kwargs: Any,
) -> MobileNetV4:
    """Build a MobileNetV4 by name, optionally with timm's ImageNet weights.

    Args:
        name: a variant (:func:`list_models`), a seed name (``"nano"``...``"hybrid_large"``,
            ``"custom"``) or a timm name (``"mobilenetv4_conv_small[.tag]"``).
        in_channels: input channels; pretrained stems are adapted (see
            :func:`~mnv4_rl.weights.adapt_stem_weight`).
        num_classes: classifier size; 0 gives the pooled 1280-d features.
        pretrained: ``True`` for the variant's default hub weights, or a hub id, a local
            ``.safetensors``/``.pth``/``.bin`` file, or a timm state dict. ``None``/``False``: random.
        frame_channels: the input is a stack of frames of this many channels (1 gray, 3 RGB):
            a pretrained stem is adapted by the frame rule, as the RL adapters do. ``None``: the
            channels are generic.
        **kwargs: passed to :class:`MobileNetV4` (``drop_rate``, ``drop_path_rate``, ``norm``,
            ``features_only``, ``channels_last``), or to :func:`mobilenet_v4_custom` for ``"custom"``.

    The summary of a pretrained load (stem adaptation, classifier reset) is printed as a warning
    and kept on ``model.pretrained_summary``.
    """
    variant, tag = resolve_name(name)
    if variant == "custom":
        model = mobilenet_v4_custom(in_channels=in_channels, num_classes=num_classes, **kwargs)
    else:
        model = MobileNetV4(SPECS[variant], in_channels, num_classes, **kwargs)
    if pretrained:
        summary = load_pretrained(model, name, pretrained, frame_channels)
        if summary.changes:  # reported at the caller's line, never silent
            warnings.warn(str(summary), UserWarning, stacklevel=2)
    return model


def load_pretrained(
    model: MobileNetV4,
    name: str,
    pretrained: bool | str | Path | dict,
    frame_channels: int | None = None,
) -> LoadSummary:
    """Load ``pretrained`` into ``model`` (built as ``name``) with :func:`load_timm_weights`.

    ``True`` means the tag's (or the variant's default) hub checkpoint; a weight tag or hub id
    of the variant brings that checkpoint's statistics (:func:`mnv4_rl.registry.resolve_weights`),
    whose std the gray-frame stem rule uses. Returns the :class:`LoadSummary` (kept on
    ``model.pretrained_summary``) and warns nothing: callers report it.
    """
    from ..registry import get_encoder, resolve_weights  # the registry builds on this module

    variant, tag = resolve_name(name)
    if variant == "custom":
        raise ValueError("'custom' models have no timm weights; pass pretrained=None")
    source, cfg, _ = resolve_weights(get_encoder(variant), tag, pretrained)
    std = cfg.std if cfg else IMAGENET_STD
    model.pretrained_summary = load_timm_weights(
        model, source, verbose=False, frame_channels=frame_channels, std=std
    )
    return model.pretrained_summary


def _seed_factory(seed_name: str):
    variant = OLD_PROJECT_NAMES[seed_name]

    def factory(in_channels: int = 3, num_classes: int = 1000, **kwargs: Any) -> MobileNetV4:
        return create_model(variant, in_channels, num_classes, **kwargs)

    factory.__name__ = f"mobilenet_v4_{seed_name}"
    factory.__qualname__ = factory.__name__
    factory.__doc__ = (
        f"Seed-project name for MobileNetV4 ``{variant}`` (timm ``mobilenetv4_{variant}``).\n\n"
        f"Signature as the older project: ``(in_channels=3, num_classes=1000, **kwargs)``; kwargs go "
        f"to :func:`create_model` (``pretrained``, ``drop_rate``, ``norm``...)."
    )
    return factory


mobilenet_v4_nano = _seed_factory("nano")
mobilenet_v4_small = _seed_factory("small")
mobilenet_v4_medium = _seed_factory("medium")
mobilenet_v4_large = _seed_factory("large")
mobilenet_v4_hybrid_medium = _seed_factory("hybrid_medium")
mobilenet_v4_hybrid_large = _seed_factory("hybrid_large")


def custom_spec(
    base_channels: int = 16,
    expanded_channels: int = 32,
    squeeze_ratio: float = 0.25,
    num_heads: int = 2,
    hidden_dim_classifier: int = 64,
    FusedIBs: int = 1,  # noqa: N803 - the seed project's keyword names
    UIB_and_ExtraDWs: int = 1,  # noqa: N803
    SE_and_UIBs: int = 1,  # noqa: N803
    SE_and_MobileMQAs: int = 1,  # noqa: N803
) -> ModelSpec:
    """The seed project's stage layout expressed with paper-faithful blocks (residuals included).

    ``stem (stride 2) -> FusedIBs x FusedIB (stride 2) -> UIB_and_ExtraDWs x [ConvNeXt-like UIB,
    ExtraDW] -> SE_and_UIBs x [SE, IB] -> SE_and_MobileMQAs x [SE, Mobile MQA]``, all at width
    ``base_channels`` with expansion ``expanded_channels / base_channels``, then the pooled head of
    width ``hidden_dim_classifier``.
    """
    counts = dict(
        FusedIBs=FusedIBs,
        UIB_and_ExtraDWs=UIB_and_ExtraDWs,
        SE_and_UIBs=SE_and_UIBs,
        SE_and_MobileMQAs=SE_and_MobileMQAs,
    )
    for key, count in counts.items():
        if count < 0:
            raise ValueError(f"{key} must be >= 0, got {count}")
    if base_channels < 8 or base_channels % 8:
        raise ValueError(f"base_channels must be a positive multiple of 8, got {base_channels}")
    if expanded_channels < base_channels:
        raise ValueError(
            f"expanded_channels ({expanded_channels}) must be >= base_channels ({base_channels})"
        )
    if SE_and_MobileMQAs and (num_heads < 1 or base_channels % num_heads):
        raise ValueError(
            f"num_heads ({num_heads}) must divide base_channels ({base_channels}); "
            f"try num_heads in {[h for h in range(1, base_channels + 1) if base_channels % h == 0]}"
        )
    expand = expanded_channels / base_channels
    width = base_channels
    stages = [
        tuple(fib(3, 2, expand, width) for _ in range(FusedIBs)),
        tuple(
            b
            for _ in range(UIB_and_ExtraDWs)
            for b in (uib(5, 0, 1, expand, width), uib(5, 3, 1, expand, width))
        ),
        tuple(
            b
            for _ in range(SE_and_UIBs)
            for b in (SESpec(squeeze_ratio), uib(0, 3, 1, expand, width))
        ),
        tuple(
            b
            for _ in range(SE_and_MobileMQAs)
            for b in (SESpec(squeeze_ratio), mqa(num_heads, width // num_heads))
        ),
    ]
    return ModelSpec(
        "custom",
        stem=width,
        stages=tuple(stage for stage in stages if stage),
        head_hidden_size=hidden_dim_classifier,
    )


def mobilenet_v4_custom(
    in_channels: int = 3,
    num_classes: int = 1000,
    base_channels: int = 16,
    expanded_channels: int = 32,
    squeeze_ratio: float = 0.25,
    num_heads: int = 2,
    hidden_dim_classifier: int = 64,
    dropout: float = 0.2,
    FusedIBs: int = 1,  # noqa: N803
    UIB_and_ExtraDWs: int = 1,  # noqa: N803
    SE_and_UIBs: int = 1,  # noqa: N803
    SE_and_MobileMQAs: int = 1,  # noqa: N803
    stages: list[list] | None = None,
    stem_channels: int | None = None,
    act: str = "relu",
    layer_scale_init: float | None = None,
    **kwargs: Any,
) -> MobileNetV4:
    """A custom MobileNetV4 from the seed project's keyword arguments, or from block specs.

    Seed form: ``mobilenet_v4_custom(base_channels=32, expanded_channels=96, FusedIBs=2, ...)``
    builds the layout described in :func:`custom_spec`.

    General form: pass ``stages`` as a list of stages, each a list of block specs from
    :mod:`mnv4_rl.models.specs` (``cn``, ``fib``, ``uib``, ``mqa``, ``SESpec``), plus
    ``stem_channels``; ``hidden_dim_classifier`` sets the head width (0 = no head conv).

    Args:
        dropout: dropout before the classifier (the seed's default 0.2).
        **kwargs: passed to :class:`MobileNetV4` (``drop_path_rate``, ``norm``, ``channels_last``...).
    """
    if stages is not None:
        if not stages or not all(stages):
            raise ValueError("stages must be a non-empty list of non-empty lists of block specs")
        spec = ModelSpec(
            "custom",
            stem=stem_channels or base_channels,
            stages=tuple(tuple(stage) for stage in stages),
            act=act,
            layer_scale_init=layer_scale_init,
            head_hidden_size=hidden_dim_classifier,
        )
    else:
        spec = custom_spec(
            base_channels,
            expanded_channels,
            squeeze_ratio,
            num_heads,
            hidden_dim_classifier,
            FusedIBs,
            UIB_and_ExtraDWs,
            SE_and_UIBs,
            SE_and_MobileMQAs,
        )
    kwargs.setdefault("drop_rate", dropout)
    return MobileNetV4(spec, in_channels, num_classes, **kwargs)


__all__ = [
    "OLD_PROJECT_NAMES",
    "PretrainedConfig",
    "create_model",
    "custom_spec",
    "list_models",
    "load_pretrained",
    "mobilenet_v4_custom",
    "mobilenet_v4_hybrid_large",
    "mobilenet_v4_hybrid_medium",
    "mobilenet_v4_large",
    "mobilenet_v4_medium",
    "mobilenet_v4_nano",
    "mobilenet_v4_small",
    "resolve_name",
]


def __getattr__(name: str) -> object:
    if name == "SEED_ALIASES":  # "seed" means random seeds in a lab full of them
        warnings.warn(
            "SEED_ALIASES is now OLD_PROJECT_NAMES (the older project's names)",
            DeprecationWarning,
            stacklevel=2,
        )
        return OLD_PROJECT_NAMES
    if name == "PRETRAINED":
        from ..registry import PRETRAINED

        return PRETRAINED
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
