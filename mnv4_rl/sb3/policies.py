"""``policy_kwargs`` for SB3 algorithms with a MobileNetV4 encoder."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from ..encoders import ENCODERS, IMPALA
from .extractors import ImpalaCNN, MobileNetV4CombinedExtractor, MobileNetV4Extractor, default_norm

__all__ = ["ALGOS", "SB3_ENCODERS", "encoder_policy_kwargs", "load_model", "mnv4_policy_kwargs"]

#: Encoder names for SB3: SB3's own NatureCNN as ``"nature"``, then :data:`mnv4_rl.encoders.ENCODERS`.
SB3_ENCODERS = ("nature", *ENCODERS)

# The head each algorithm gets on top of the features, when not overridden.
# PPO/A2C/DQN/QR-DQN: what SB3 gives NatureCNN (only the final linear layers), so the encoder is
# compared with NatureCNN like for like (any other extractor class gets [64, 64] by default).
# SAC: SB3's own SAC default [256, 256]; its critic concatenates features and action, and a
# Q-function that is linear in the action cannot represent continuous-control values.
ALGOS: dict[str, dict[str, Any]] = {
    "ppo": {"net_arch": []},
    "a2c": {"net_arch": []},
    "dqn": {"net_arch": []},
    "qrdqn": {"net_arch": []},
    "sac": {"net_arch": [256, 256]},
}
_ALIASES = {"qr-dqn": "qrdqn", "qr_dqn": "qrdqn"}
_EXTRACTOR_OPTIONS = set(inspect.signature(MobileNetV4Extractor.__init__).parameters) - {
    "self",
    "observation_space",
    "model_kwargs",
} | {"drop_rate", "drop_path_rate", "channels_last", "image_keys"}


def mnv4_policy_kwargs(
    variant: str = "nano",
    algo: str = "ppo",
    pretrained: bool | str | Path | dict | None = None,
    features_dim: int = 512,
    dict_observations: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """``policy_kwargs`` that put a MobileNetV4 encoder into an SB3 (or sb3-contrib) algorithm.

    Use with ``"CnnPolicy"`` (``"MultiInputPolicy"`` with ``dict_observations=True``)::

        PPO("CnnPolicy", env, policy_kwargs=mnv4_policy_kwargs("nano", "ppo"))

    Pretrained weights survive the policy's construction without ``ortho_init=False``: the
    extractor's ``apply`` keeps SB3's orthogonal init away from the backbone (only the projection
    and SB3's heads get it, as with NatureCNN).

    Args:
        variant: a :func:`mnv4_rl.create_model` name (``"nano"``, ``"small"``...).
        algo: ``"ppo"``, ``"a2c"``, ``"dqn"``, ``"qrdqn"`` or ``"sac"``: picks the default
            ``net_arch`` (see :data:`ALGOS`).
        pretrained: the extractor's ``pretrained`` (``True``, a hub id, a file, a state dict).
        features_dim: the encoder's output width (``cnn_output_dim`` per image key for Dict spaces).
        dict_observations: use :class:`MobileNetV4CombinedExtractor` (Dict observation spaces).
        **overrides: extractor options (``norm``, ``normalized_image``, ``layout``,
            ``frame_channels``, ``in_channels``, ``drop_path_rate``...) go to
            ``features_extractor_kwargs``; anything else (``net_arch``, ``ortho_init``,
            ``share_features_extractor``, ``optimizer_kwargs``...) is a policy keyword.

    Raises:
        ValueError: an unknown ``algo`` (the message lists the known ones).
    """
    key = _algo_key(algo)
    extractor_kwargs: dict[str, Any] = {"variant": variant, "pretrained": pretrained}
    if dict_observations:
        extractor_class: type = MobileNetV4CombinedExtractor
        extractor_kwargs["cnn_output_dim"] = features_dim
    else:
        extractor_class = MobileNetV4Extractor
        extractor_kwargs["features_dim"] = features_dim
    extractor_kwargs.update(overrides.pop("features_extractor_kwargs", {}))
    for name in [n for n in overrides if n in _EXTRACTOR_OPTIONS]:
        extractor_kwargs[name] = overrides.pop(name)
    return {
        "features_extractor_class": extractor_class,
        "features_extractor_kwargs": extractor_kwargs,
        **ALGOS[key],
        **overrides,
    }


def _algo_key(algo: str) -> str:
    key = _ALIASES.get(algo.lower(), algo.lower())
    if key not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; known: {', '.join(ALGOS)}")
    return key


def encoder_policy_kwargs(
    encoder: str,
    algo: str = "ppo",
    pretrained: bool | str | Path | dict | None = None,
    features_dim: int | None = None,
    **extractor_kwargs: Any,
) -> dict[str, Any]:
    """``policy_kwargs`` for SB3's ``CnnPolicy`` with any encoder of :data:`SB3_ENCODERS`.

    ``"nature"`` is SB3's NatureCNN as SB3 ships it (``{}``: nothing to change, or its
    ``features_dim``); ``"impala"`` is :class:`ImpalaCNN` (256 features by default, the paper's);
    every other name goes to :func:`mnv4_policy_kwargs`. The heads are SB3's defaults for NatureCNN
    (:data:`ALGOS`), so only the encoder differs between names.

    Args:
        encoder: a name of :data:`SB3_ENCODERS` (or any :func:`mnv4_rl.create_model` name).
        algo: ``"ppo"``, ``"a2c"``, ``"dqn"``, ``"qrdqn"`` or ``"sac"``.
        pretrained: MobileNetV4 only.
        features_dim: the encoder's output width; ``None``: 512 (256 for IMPALA-CNN).
        **extractor_kwargs: extractor options (``norm``, ``layout``...).
    """
    key = _algo_key(algo)
    if encoder in ("nature", IMPALA):
        if pretrained:
            raise ValueError(f"{encoder!r} has no pretrained weights; drop pretrained")
        kwargs = dict(extractor_kwargs)
        if features_dim is not None:
            kwargs["features_dim"] = features_dim
        if encoder == "nature":
            if not kwargs:
                return {}  # SB3's own default: NatureCNN, 512 features, its default heads
            from stable_baselines3.common.torch_layers import NatureCNN

            return {
                "features_extractor_class": NatureCNN,
                "features_extractor_kwargs": kwargs,
                **ALGOS[key],
            }
        return {
            "features_extractor_class": ImpalaCNN,
            "features_extractor_kwargs": kwargs,
            **ALGOS[key],
        }
    return mnv4_policy_kwargs(encoder, key, pretrained, features_dim or 512, **extractor_kwargs)


def _without_pretrained(extractor_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same extractor, built without reading its checkpoint: pretrained's effects made explicit."""
    kwargs = dict(extractor_kwargs)
    pretrained = kwargs.pop("pretrained", None)
    if pretrained:
        kwargs["norm"] = kwargs.get("norm") or default_norm(pretrained)
        kwargs["input_norm"] = True if kwargs.get("input_norm") is None else kwargs["input_norm"]
    return kwargs


def load_model(algo: type, path: str | Path, **kwargs: Any) -> Any:
    """``algo.load(path, **kwargs)`` that does not read the extractor's pretrained checkpoint again.

    SB3 rebuilds the policy from its saved ``policy_kwargs`` before loading the saved weights, so
    a plain ``PPO.load`` reads the ``pretrained`` checkpoint once more, and fails where that file is
    gone; its weights would be overwritten anyway. This loads with ``pretrained=None`` and the
    norm and input normalisation that ``pretrained`` implied, so only the saved weights are used.

    Args:
        algo: the algorithm class (``PPO``, ``DQN``, ``QRDQN``...).
        path: the saved model (``.zip``).
        **kwargs: passed to ``algo.load`` (``env``, ``device``...).
    """
    from stable_baselines3.common.save_util import load_from_zip_file

    data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    policy_kwargs = dict(data.get("policy_kwargs") or {})
    if "features_extractor_kwargs" in policy_kwargs:
        policy_kwargs["features_extractor_kwargs"] = _without_pretrained(
            policy_kwargs["features_extractor_kwargs"]
        )
    custom = {**kwargs.pop("custom_objects", {}), "policy_kwargs": policy_kwargs}
    return algo.load(path, custom_objects=custom, **kwargs)
