"""``policy_kwargs`` for SB3 algorithms with any encoder of the registry, or SB3's NatureCNN."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from .._compat import renamed_keyword
from ..encoders import resolve_options
from ..lr_scale import check_lr_scale, lr_scaled
from ..registry import get_encoder, list_encoders
from .augmented import AugmentedNatureCNN
from .extractors import EncoderExtractor, MobileNetV4CombinedExtractor, MobileNetV4Extractor

__all__ = [
    "ALGOS",
    "ALGO_HEADS",
    "encoder_policy_kwargs",
    "load_model",
    "mnv4_policy_kwargs",
    "sb3_encoders",
]

NATURE = "nature"

# The head each algorithm gets on top of the features, when not overridden.
# PPO/A2C/DQN/QR-DQN: what SB3 gives NatureCNN (only the final linear layers), so the encoder is
# compared with NatureCNN like for like (any other extractor class gets [64, 64] by default).
# SAC: SB3's own SAC default [256, 256]; its critic concatenates features and action, and a
# Q-function that is linear in the action cannot represent continuous-control values.
ALGO_HEADS: dict[str, dict[str, Any]] = {
    "ppo": {"net_arch": []},
    "a2c": {"net_arch": []},
    "dqn": {"net_arch": []},
    "qrdqn": {"net_arch": []},
    "sac": {"net_arch": [256, 256]},
}
#: The SB3 / sb3-contrib algorithms these helpers know.
ALGOS = tuple(ALGO_HEADS)
_ALIASES = {"qr-dqn": "qrdqn", "qr_dqn": "qrdqn"}
# Extractor keywords (everything else is a policy keyword).
_RESOLVED = set(inspect.signature(resolve_options).parameters) - {
    "observation_space", "encoder", "features_dim", "scaled_by_framework", "model_kwargs",
}  # fmt: skip
_EXTRACTOR_OPTIONS = _RESOLVED | {"normalized_image", "compile", "image_keys", "encoder_lr_scale"}
# SB3's on-policy algorithms give Adam eps=1e-5 only when the class is exactly Adam.
_ADAM_EPS = {"ppo": 1e-5, "a2c": 1e-5}


def sb3_encoders() -> tuple[str, ...]:
    """Every encoder name SB3 accepts now: NatureCNN as ``"nature"``, then the registry's names
    and aliases (:func:`mnv4_rl.list_encoders`), including encoders registered since import."""
    return (NATURE, *list_encoders(aliases=True))


def __getattr__(name: str) -> Any:
    if name == "SB3_ENCODERS":  # read live, so registered encoders are in it
        return sb3_encoders()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _algo_key(algo: str) -> str:
    key = _ALIASES.get(algo.lower(), algo.lower())
    if key not in ALGO_HEADS:
        raise ValueError(f"unknown algo {algo!r}; known: {', '.join(ALGOS)}")
    return key


def _is_extractor_option(name: str) -> bool:
    return name in _EXTRACTOR_OPTIONS or any(
        name in get_encoder(e).options for e in list_encoders()
    )


def encoder_policy_kwargs(
    encoder: str,
    algo: str = "ppo",
    pretrained: bool | str | Path | dict | None = None,
    features_dim: int | None = None,
    dict_observations: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """``policy_kwargs`` that put any encoder into an SB3 (or sb3-contrib) algorithm.

    Use with ``"CnnPolicy"`` (``"MultiInputPolicy"`` with ``dict_observations=True``)::

        PPO("CnnPolicy", env, policy_kwargs=encoder_policy_kwargs("nano", "ppo"))

    ``"nature"`` is SB3's NatureCNN as SB3 ships it (``{}``: nothing to change; with ``augment``,
    :class:`~mnv4_rl.sb3.augmented.AugmentedNatureCNN`); every other name is an entry of the
    registry (:func:`mnv4_rl.list_encoders`) in :class:`~mnv4_rl.sb3.EncoderExtractor`. The heads
    are SB3's defaults for NatureCNN (:data:`ALGO_HEADS`), so only the encoder differs between
    names. Pretrained weights survive the policy's construction: the extractor keeps SB3's
    orthogonal init away from a pretrained backbone.

    Args:
        encoder: ``"nature"`` or a registry name or alias (``"nano"``, ``"impala"``...).
        algo: ``"ppo"``, ``"a2c"``, ``"dqn"``, ``"qrdqn"`` or ``"sac"`` (picks the head).
        pretrained: the encoder's ``pretrained`` (``True``, a tag, a hub id, a file, a state dict).
        features_dim: the encoder's output width; ``None``: the entry's default (512; IMPALA-CNN
            256); ``cnn_output_dim`` per image key for Dict spaces.
        dict_observations: use :class:`~mnv4_rl.sb3.MobileNetV4CombinedExtractor` (Dict spaces).
        **overrides: extractor options (``norm``, ``layout``, ``augment``, ``pad``,
            ``frame_channels``, ``drop_path_rate``, ``encoder_lr_scale``...) go to
            ``features_extractor_kwargs``; anything else (``net_arch``, ``ortho_init``,
            ``optimizer_kwargs``...) is a policy keyword. ``encoder_lr_scale=0.1`` fine-tunes the
            backbone at a tenth of the learning rate for the whole run, whatever SB3's schedule
            writes into the optimiser (:mod:`mnv4_rl.lr_scale`).

    Raises:
        ValueError: an unknown encoder or algo (the message lists the known ones), or pretrained
            weights for an encoder without them.
    """
    key = _algo_key(algo)
    extractor_kwargs: dict[str, Any] = dict(overrides.pop("features_extractor_kwargs", {}))
    for name in [n for n in overrides if _is_extractor_option(n)]:
        extractor_kwargs[name] = overrides.pop(name)
    if encoder == NATURE:
        if pretrained:
            raise ValueError(
                "'nature' (SB3's NatureCNN) has no pretrained weights; drop pretrained"
            )
        if dict_observations:
            raise ValueError("for Dict spaces with NatureCNN use SB3's own MultiInputPolicy")
        if features_dim is not None:
            extractor_kwargs["features_dim"] = features_dim
        augmented = extractor_kwargs.get("augment") not in (None, "none")
        if not extractor_kwargs and not overrides:
            return {}  # SB3's own default: NatureCNN, 512 features, its default heads
        extractor_class = AugmentedNatureCNN if augmented else _nature_cnn()
        return {
            "features_extractor_class": extractor_class,
            "features_extractor_kwargs": extractor_kwargs,
            **ALGO_HEADS[key],
            **overrides,
        }
    entry = get_encoder(encoder)  # a misspelt name fails now, listing the known ones
    if pretrained and not entry.weights:
        entry.checkpoint()  # raises: no weights for this encoder
    extractor_kwargs = {"encoder": encoder, "pretrained": pretrained, **extractor_kwargs}
    if extractor_kwargs.get("encoder_lr_scale") is not None:
        _scale_encoder_lr(key, extractor_kwargs["encoder_lr_scale"], overrides)
    width = features_dim or entry.features_dim
    if dict_observations:
        extractor_class: type = MobileNetV4CombinedExtractor
        extractor_kwargs["cnn_output_dim"] = width
    else:
        extractor_class = EncoderExtractor
        extractor_kwargs["features_dim"] = width
    return {
        "features_extractor_class": extractor_class,
        "features_extractor_kwargs": extractor_kwargs,
        **ALGO_HEADS[key],
        **overrides,
    }


def _scale_encoder_lr(algo: str, scale: float, overrides: dict[str, Any]) -> None:
    """The policy keywords for an ``encoder_lr_scale``: the optimiser class made
    :func:`~mnv4_rl.lr_scale.lr_scaled`, with the options SB3 would have given plain Adam."""
    check_lr_scale(scale)
    base = overrides.get("optimizer_class", torch.optim.Adam)
    if base is torch.optim.Adam and algo in _ADAM_EPS:
        overrides["optimizer_kwargs"] = {
            "eps": _ADAM_EPS[algo],
            **overrides.get("optimizer_kwargs", {}),
        }
    overrides["optimizer_class"] = lr_scaled(base)


def _nature_cnn() -> type:
    from stable_baselines3.common.torch_layers import NatureCNN

    return NatureCNN


def mnv4_policy_kwargs(
    encoder: str = "nano",
    algo: str = "ppo",
    pretrained: bool | str | Path | dict | None = None,
    features_dim: int = 512,
    dict_observations: bool = False,
    variant: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """:func:`encoder_policy_kwargs` with :class:`~mnv4_rl.sb3.MobileNetV4Extractor` (the class
    earlier versions saved in SB3 zips) and a 512-wide encoder by default.

    ``variant=`` is the old name of ``encoder=`` (deprecated).
    """
    encoder = renamed_keyword(variant, encoder, "variant", "encoder", "mnv4_policy_kwargs")
    kwargs = encoder_policy_kwargs(
        encoder, algo, pretrained, features_dim, dict_observations, **overrides
    )
    if kwargs["features_extractor_class"] is EncoderExtractor:
        kwargs["features_extractor_class"] = MobileNetV4Extractor
    return kwargs


def _without_weights(extractor_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same extractor, built with everything its pretrained weights imply (norm, input
    statistics) but without reading them."""
    kwargs = dict(extractor_kwargs)
    if kwargs.get("pretrained"):
        kwargs["load_weights"] = False
    return kwargs


def load_model(algo: type, path: str | Path, **kwargs: Any) -> Any:
    """``algo.load(path, **kwargs)`` that does not read the extractor's pretrained checkpoint again.

    SB3 rebuilds the policy from its saved ``policy_kwargs`` before loading the saved weights, so
    a plain ``PPO.load`` reads the ``pretrained`` checkpoint once more, and fails where that file is
    gone; its weights would be overwritten anyway. This builds the extractor with
    ``load_weights=False`` (same norm, same input statistics), so only the saved weights are used.

    Args:
        algo: the algorithm class (``PPO``, ``DQN``, ``QRDQN``...).
        path: the saved model (``.zip``).
        **kwargs: passed to ``algo.load`` (``env``, ``device``...).
    """
    from stable_baselines3.common.save_util import load_from_zip_file

    data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    policy_kwargs = dict(data.get("policy_kwargs") or {})
    if "features_extractor_kwargs" in policy_kwargs:
        policy_kwargs["features_extractor_kwargs"] = _without_weights(
            policy_kwargs["features_extractor_kwargs"]
        )
    custom = {**kwargs.pop("custom_objects", {}), "policy_kwargs": policy_kwargs}
    return algo.load(path, custom_objects=custom, **kwargs)
