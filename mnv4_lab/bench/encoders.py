"""Encoders the benchmark compares: NatureCNN, ours (``mnv4_rl.sb3``) and timm's MobileNetV4.

An encoder is named by a spec string ``name[@key=value,key=value]``:

* ``nature``: SB3's NatureCNN as SB3 ships it (the baseline of every ratio);
* any encoder of the registry (:func:`mnv4_rl.list_encoders`: ``impala``, ``nano``, ``small``...):
  :class:`mnv4_rl.sb3.EncoderExtractor` with the entry's default width;
* ``timm-<variant>`` (``timm-nano``, ``timm-small``...): timm's own ``mobilenetv4_*`` model in the
  same extractor shell (:class:`TimmMobileNetV4Extractor`), the baseline of the performance work;
* ``@key=value`` pairs are extractor keyword arguments for that encoder only, e.g.
  ``small@norm=batch``; values are read as JSON when they parse (``true``, ``3``), else as strings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN

from mnv4_rl.models import resolve_name
from mnv4_rl.registry import get_encoder
from mnv4_rl.sb3 import MobileNetV4Extractor, encoder_policy_kwargs

TIMM_PREFIX = "timm-"
TIMM_NORMS = ("batch", "frozen")


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder of the comparison.

    Attributes:
        label: the spec string as given (the row name in every table).
        kind: ``"nature"``, ``"encoder"`` (a registry entry) or ``"timm"``.
        variant: the encoder name (``""`` for NatureCNN).
        kwargs: extractor keyword arguments (shared ``--extractor-kwargs`` merged with the spec's).
    """

    label: str
    kind: str
    variant: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def is_baseline(self) -> bool:
        return self.kind == "nature"


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_encoder(spec: str, shared_kwargs: dict[str, Any] | None = None) -> EncoderSpec:
    """Parse ``name[@key=value,...]`` into an :class:`EncoderSpec` (see the module docstring).

    ``shared_kwargs`` (from ``--extractor-kwargs``) apply to every registry encoder and timm's,
    never to NatureCNN; the spec's own pairs win over them.

    Raises:
        ValueError: a malformed ``key=value`` pair or an unknown variant (listing the known ones).
    """
    name, _, options = spec.partition("@")
    own: dict[str, Any] = {}
    for pair in filter(None, options.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(
                f"bad option {pair!r} in encoder {spec!r}: expected key=value, e.g. small@norm=batch"
            )
        own[key.strip()] = _value(value.strip())
    if name == "nature":
        return EncoderSpec(spec, name, "", own)
    if name.startswith(TIMM_PREFIX):
        variant = name[len(TIMM_PREFIX) :]
        resolve_name(variant)  # ValueError listing the known names
        return EncoderSpec(spec, "timm", variant, {**(shared_kwargs or {}), **own})
    get_encoder(name)  # ValueError listing the known names
    return EncoderSpec(spec, "encoder", name, {**(shared_kwargs or {}), **own})


class TimmMobileNetV4Extractor(MobileNetV4Extractor):
    """timm's ``mobilenetv4_<variant>`` (``num_classes=0``, ``in_chans=k*c``) in the shell of
    :class:`mnv4_rl.sb3.MobileNetV4Extractor`: same layout handling, same ``/255``, same
    ``Linear(1280, features_dim) -> ReLU`` projection; only the backbone is timm's.

    A benchmark baseline, not a user-facing extractor: timm's model runs as timm builds it
    (BatchNorm, default memory format). ``norm="frozen"`` freezes its BatchNorm layers with
    ``timm.layers.freeze_batch_norm_2d``. Pretrained weights are not supported (speed does not
    depend on them).

    Args:
        observation_space: a ``Box`` of frames.
        variant: a MobileNetV4 name of ours (``"nano"``, ``"small"``, ``"conv_medium"``...).
        features_dim: output width.
        normalized_image: the (float) space already holds values in ``[0, 1]``.
        norm: ``"batch"`` (timm's default) or ``"frozen"``.
        **timm_kwargs: passed to ``timm.create_model`` (``drop_rate``, ``drop_path_rate``...).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        variant: str = "small",
        features_dim: int = 512,
        normalized_image: bool = False,
        norm: str = "batch",
        **timm_kwargs: Any,
    ) -> None:
        try:
            import timm
        except ImportError as err:
            raise ImportError("timm-<variant> baselines need timm: pip install timm") from err
        if norm not in TIMM_NORMS:
            raise ValueError(f"timm baselines support norm in {TIMM_NORMS}, got {norm!r}")
        # The shell (layout checks, scaling, projection) is ours; its backbone is replaced below.
        super().__init__(
            observation_space,
            variant,
            features_dim,
            normalized_image=normalized_image,
            norm="batch",
        )
        base, tag = resolve_name(variant)
        timm_name = f"mobilenetv4_{base}" + (f".{tag}" if tag else "")
        self.backbone = timm.create_model(
            timm_name, pretrained=False, num_classes=0, in_chans=self.frames.channels, **timm_kwargs
        )
        if norm == "frozen":
            self.backbone = timm.layers.freeze_batch_norm_2d(self.backbone)
        self.options = dataclasses.replace(self.options, norm=norm)
        self.variant = f"timm:{timm_name}"


def policy_kwargs(encoder: EncoderSpec, algo: str) -> dict[str, Any]:
    """``policy_kwargs`` for SB3's ``CnnPolicy`` with this encoder (the entry's default width:
    512, IMPALA-CNN 256 as in the paper; ``net_arch=[]`` for every encoder, so the heads are the
    same and only the encoder differs)."""
    if encoder.kind == "nature":
        kwargs = encoder_policy_kwargs("nature", algo, **encoder.kwargs)
        return kwargs or {"features_extractor_class": NatureCNN}
    if encoder.kind == "encoder":
        return encoder_policy_kwargs(encoder.variant, algo, **encoder.kwargs)
    kwargs = encoder_policy_kwargs(encoder.variant, algo, features_dim=512)
    kwargs["features_extractor_class"] = TimmMobileNetV4Extractor
    kwargs["features_extractor_kwargs"] = {"variant": encoder.variant, **encoder.kwargs}
    return kwargs


def build_extractor(encoder: EncoderSpec, observation_space: spaces.Space) -> BaseFeaturesExtractor:
    """The encoder alone, as the policy would build it (512 features)."""
    kwargs = policy_kwargs(encoder, "ppo")
    return kwargs["features_extractor_class"](
        observation_space, **kwargs.get("features_extractor_kwargs", {})
    )
