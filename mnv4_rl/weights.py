"""Load timm's MobileNetV4 checkpoints: key mapping, stem adaptation, classifier reset.

``load_timm_weights(model, source)`` takes a timm state dict, a local ``.safetensors`` / ``.pth`` /
``.bin`` file, or a hub id such as ``"timm/mobilenetv4_conv_small.e2400_r224_in1k"``. Anything it
changes on the way (stem adapted to other channel counts, classifier re-initialised, head dropped)
is reported in the returned :class:`LoadSummary` and as a warning; nothing is silent.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "LoadSummary",
    "WeightsNotFoundError",
    "adapt_stem_weight",
    "convert_timm_state_dict",
    "load_timm_weights",
    "read_state_dict",
    "weights_cache_dir",
]

_BLOCK = r"^(blocks\.\d+\.\d+)\."
# timm key -> mnv4_rl key, applied in order; the first match wins.
_KEY_RULES: list[tuple[str, str]] = [
    (r"^conv_stem\.", "stem.conv."),
    (r"^bn1\.", "stem.bn."),
    (_BLOCK + r"conv_exp\.", r"\1.expand.conv."),  # FusedIB expansion conv
    (_BLOCK + r"conv_pwl\.", r"\1.project.conv."),  # FusedIB projection conv
    (_BLOCK + r"bn2\.", r"\1.project.bn."),
    (_BLOCK + r"attn\.(key|value)\.down_conv\.", r"\1.\2_down.conv."),
    (_BLOCK + r"attn\.(key|value)\.norm\.", r"\1.\2_down.bn."),
    (_BLOCK + r"attn\.(query|key|value|output)\.proj\.", r"\1.\2."),
]


class WeightsNotFoundError(FileNotFoundError):
    """A checkpoint could not be found locally nor downloaded; the message says where to put it."""


def weights_cache_dir() -> Path:
    """Where hub checkpoints are looked for first: ``$MNV4_RL_WEIGHTS`` or ``~/.cache/mnv4_rl``."""
    return Path(os.environ.get("MNV4_RL_WEIGHTS", Path.home() / ".cache" / "mnv4_rl"))


def convert_timm_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm ``mobilenetv4_*`` state dict to this package's module names.

    Keys that already use this package's names pass through unchanged.
    """
    fused_blocks = {m.group(1) for k in state if (m := re.match(_BLOCK + "conv_exp\\.", k))}
    converted = {}
    for key, value in state.items():
        new = key
        block_bn1 = re.match(_BLOCK + r"bn1\.(.*)$", key)
        if block_bn1:  # timm's bn1 is the expansion BN in a FusedIB, the only BN in a conv block
            prefix, rest = block_bn1.groups()
            new = f"{prefix}.{'expand.bn' if prefix in fused_blocks else 'bn'}.{rest}"
        else:
            for pattern, replacement in _KEY_RULES:
                new, hits = re.subn(pattern, replacement, key)
                if hits:
                    break
        converted[new] = value
    return converted


def adapt_stem_weight(weight: torch.Tensor, in_channels: int) -> tuple[torch.Tensor, str]:
    """Adapt an RGB stem kernel ``(out, 3, k, k)`` to ``in_channels`` inputs.

    1 channel: the sum over RGB (a grey image gives the response of the same grey RGB image).
    k channels: the RGB kernel repeated along the input axis (R, G, B, R, ...) and scaled by 3/k,
    which keeps the activations' scale; for a stack of RGB frames (k a multiple of 3), k/3 copies
    of one RGB image give exactly that image's activation.
    """
    rgb = weight.shape[1]
    if in_channels == rgb:
        return weight, ""
    if rgb != 3:
        raise ValueError(f"can only adapt a 3-channel stem, this checkpoint's has {rgb} channels")
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True), "summed the RGB stem kernel to 1 input channel"
    repeats = math.ceil(in_channels / 3)
    adapted = weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (3.0 / in_channels)
    note = f"repeated the RGB stem kernel to {in_channels} input channels and scaled it by 3/{in_channels}"
    return adapted, note


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
    """Take the state dict out of common checkpoint wrappers (``{"state_dict": ...}`` etc.)."""
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "state_dict_ema", "model_ema"):
            if key in obj and isinstance(obj[key], Mapping):
                return _unwrap(obj[key])
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise TypeError(f"cannot find a state dict in a {type(obj).__name__}")


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as error:
            raise ImportError(
                "reading .safetensors needs the safetensors package: pip install 'mnv4_rl[hub]'"
            ) from error
        return load_file(str(path))
    return _unwrap(torch.load(path, map_location="cpu", weights_only=True))


def _download(hub_id: str) -> Path:
    local = weights_cache_dir() / hub_id / "model.safetensors"
    if local.exists():
        return local
    url = f"https://huggingface.co/{hub_id}/resolve/main/model.safetensors"
    hint = f"download {url} and save it as {local} (or pass that file's path as the source)"
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise WeightsNotFoundError(
            f"{hub_id!r} is not cached and huggingface_hub is not installed "
            f"(pip install 'mnv4_rl[hub]'); or {hint}"
        ) from None
    try:
        return Path(hf_hub_download(hub_id, "model.safetensors"))
    except Exception as error:  # offline, unknown repo, auth...: all end the same way for the user
        raise WeightsNotFoundError(
            f"could not download {hub_id!r} ({type(error).__name__}); {hint}"
        ) from error


def read_state_dict(source: str | os.PathLike | Mapping | nn.Module) -> dict[str, torch.Tensor]:
    """Read a state dict from a mapping, a module, a local file or a hub id (``"timm/..."``)."""
    if isinstance(source, Mapping | nn.Module):
        return _unwrap(source)
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        return _read_file(path)
    hub_id = text.removeprefix("hf-hub:").removeprefix("hf_hub:")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", hub_id) and path.suffix not in {".pth", ".bin", ".pt"}:
        return _read_file(_download(hub_id))
    raise WeightsNotFoundError(
        f"no checkpoint file at {path}; pass an existing .safetensors/.pth/.bin file, a state dict, "
        f"or a hub id such as 'timm/mobilenetv4_conv_small.e2400_r224_in1k'"
    )


@dataclass
class LoadSummary:
    """What :func:`load_timm_weights` did. ``str()`` gives a readable report."""

    source: str
    loaded: int = 0
    stem: str = ""
    classifier: str = ""
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        """Every adaptation made, in words (empty when the checkpoint loaded as is)."""
        return [c for c in (self.stem, self.classifier, *self.notes) if c]

    def __str__(self) -> str:
        lines = [f"loaded {self.loaded} tensors from {self.source}"]
        lines += [f"  - {change}" for change in self.changes]
        return "\n".join(lines)


def load_timm_weights(
    model: nn.Module, source: str | os.PathLike | Mapping | nn.Module, verbose: bool = True
) -> LoadSummary:
    """Load a timm MobileNetV4 checkpoint into ``model`` (a :class:`~mnv4_rl.MobileNetV4`).

    Args:
        model: the target network; its ``in_channels``/``num_classes`` may differ from the
            checkpoint's (the stem is adapted, the classifier re-initialised).
        source: a timm state dict, a local ``.safetensors``/``.pth``/``.bin`` file, or a hub id.
        verbose: also emit the summary as a ``UserWarning`` when anything was adapted.

    Returns:
        A :class:`LoadSummary` listing every change.

    Raises:
        ValueError: the checkpoint does not fit the architecture; the message names the first
            mismatching key and both shapes.
        WeightsNotFoundError: a file or hub checkpoint could not be found (the message says where
            to download it and where to put it).
    """
    summary = LoadSummary(str(source) if isinstance(source, str | os.PathLike) else "a state dict")
    state = convert_timm_state_dict(read_state_dict(source))
    target = model.state_dict()

    stem_key = "stem.conv.weight"
    if stem_key in state and stem_key in target and state[stem_key].shape != target[stem_key].shape:
        state[stem_key], summary.stem = adapt_stem_weight(
            state[stem_key], target[stem_key].shape[1]
        )

    has_classifier = "classifier.weight" in target
    if "classifier.weight" in state and has_classifier:
        got, want = state["classifier.weight"].shape, target["classifier.weight"].shape
        if got != want:
            state.pop("classifier.weight"), state.pop("classifier.bias", None)
            summary.classifier = (
                f"classifier re-initialised: checkpoint has {got[0]} classes, model has {want[0]}"
            )
    for prefixes, what in (
        (("classifier.",), "model has no classifier"),
        (("conv_head.", "norm_head."), "model has no head conv (features_only)"),
    ):
        if f"{prefixes[0]}weight" in target:
            continue
        dropped = [k for k in state if k.startswith(prefixes)]
        for key in dropped:
            state.pop(key)
        if dropped:
            summary.dropped += dropped
            summary.notes.append(f"{what}: dropped {len(dropped)} tensors")

    # Statistics a GroupNorm model has no place for, and counters a checkpoint may omit.
    unused_stats = [
        k
        for k in state
        if k not in target and k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    ]
    for key in unused_stats:
        state.pop(key)
    if any(not k.endswith("num_batches_tracked") for k in unused_stats):
        summary.notes.append("BatchNorm running statistics ignored (the model uses norm='group')")

    unexpected = [k for k in state if k not in target]
    missing = [
        k
        for k in target
        if k not in state
        and not k.endswith("num_batches_tracked")
        and not k.startswith("classifier.")
    ]
    if unexpected or missing:
        raise ValueError(
            "checkpoint does not match the model: "
            + (
                f"unexpected key {unexpected[0]!r} ({len(unexpected)} in all) "
                if unexpected
                else ""
            )
            + (f"missing key {missing[0]!r} ({len(missing)} in all)" if missing else "")
            + "; is it a checkpoint of the same variant?"
        )
    for key, value in state.items():
        if value.shape != target[key].shape:
            raise ValueError(
                f"checkpoint does not match the model at {key!r}: checkpoint {tuple(value.shape)}, "
                f"model {tuple(target[key].shape)}; is it a checkpoint of the same variant?"
            )
    model.load_state_dict(state, strict=False)
    summary.loaded = len(state)
    if verbose and summary.changes:
        warnings.warn(str(summary), UserWarning, stacklevel=2)
    return summary
