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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class PretrainedConfig:
    """A checkpoint on the Hugging Face hub and the preprocessing it was trained with (one weight
    tag of an encoder; :mod:`mnv4_rl.registry` keeps them per tag, as timm's pretrained cfgs do).

    Attributes:
        hub_id: ``"timm/mobilenetv4_conv_small.e2400_r224_in1k"``.
        input_size: the training resolution (square).
        mean: per-colour input mean it was trained with.
        std: per-colour input std.
        top1: ImageNet-1k top-1 at ``input_size`` (timm's results table), where recorded.
    """

    hub_id: str
    input_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    top1: float | None = None

    @property
    def tag(self) -> str:
        """The weight tag: the hub id after the first ``"."`` (``"e2400_r224_in1k"``)."""
        return self.hub_id.partition(".")[2]


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INCEPTION_MEAN",
    "INCEPTION_STD",
    "CheckpointError",
    "LoadSummary",
    "PretrainedConfig",
    "WeightsNotFoundError",
    "adapt_stem_weight",
    "convert_timm_state_dict",
    "is_hub_id",
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


def adapt_stem_weight(
    weight: torch.Tensor,
    in_channels: int,
    frame_channels: int | None = None,
    std: tuple[float, ...] = IMAGENET_STD,
) -> tuple[torch.Tensor, str]:
    """Adapt an RGB stem kernel ``(out, 3, kh, kw)`` to ``in_channels`` inputs; say which rule.

    The frame rule (``frame_channels`` given; the RL adapters always give it) reads the input as
    ``k = in_channels / frame_channels`` stacked frames, so that ``k`` equal frames give the
    response of one frame:

    - RGB frames (``frame_channels=3``): the kernel repeated per frame and divided by ``k``;
    - gray frames (``frame_channels=1``): the colour kernels summed, each weighted by
      ``mean(std) / std_c`` (a gray value has the gain of the same gray RGB pixel after the
      checkpoint's mean/std normalisation), repeated per frame and divided by ``k``.

    A kernel that already has ``in_channels`` inputs is returned unchanged. The generic rule
    (``frame_channels=None``): 1 channel sums the RGB kernels; other counts repeat
    them cyclically (R, G, B, R, ...) scaled by ``3 / in_channels``.

    Args:
        weight: the checkpoint's stem kernel.
        in_channels: the model's input channels.
        frame_channels: channels per frame (1 or 3), or ``None`` for the generic rule.
        std: the checkpoint's per-colour std (its pretraining normalisation).

    Returns:
        The adapted kernel and a sentence saying which rule applied ("" when none was needed).
    """
    rgb = weight.shape[1]
    if in_channels == rgb:  # one RGB frame, or a checkpoint made for this input already
        return weight, ""
    if rgb != 3:
        raise ValueError(f"can only adapt a 3-channel stem, this checkpoint's has {rgb} channels")
    if frame_channels is not None:
        if frame_channels not in (1, 3) or in_channels % frame_channels:
            raise ValueError(
                f"in_channels={in_channels} is not a stack of frames of frame_channels="
                f"{frame_channels} (1 or 3 channels per frame); pass frame_channels=None for the "
                "generic rule"
            )
        k = in_channels // frame_channels
        if frame_channels == 3:
            note = (
                f"stem, frame rule: {k} RGB frame(s), kernel repeated per frame and divided by {k}"
            )
            return weight.repeat(1, k, 1, 1) / k, note
        gain = torch.tensor([float(sum(std)) / len(std) / s for s in std], dtype=weight.dtype)
        gray = (weight * gain.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        note = (
            f"stem, frame rule: {k} grayscale frame(s), colour kernels summed (weighted by std), "
            f"repeated per frame and divided by {k}"
        )
        return gray.repeat(1, k, 1, 1) / k, note
    if in_channels == 1:
        return weight.sum(
            dim=1, keepdim=True
        ), "stem, generic rule: RGB kernels summed to 1 channel"
    repeats = math.ceil(in_channels / 3)
    adapted = weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (3.0 / in_channels)
    note = (
        f"stem, generic rule: RGB kernel repeated to {in_channels} channels and scaled by "
        f"3/{in_channels}"
    )
    return adapted, note


class CheckpointError(ValueError):
    """A checkpoint file exists but holds no readable state dict; the message names the file."""


# Suffixes that make a source a local file path, never a hub id.
_FILE_SUFFIXES = {".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".pkl", ".tar", ".npz", ".zip"}
_HUB_ID = re.compile(r"[\w-]+/[\w.-]+")


def _unwrap(obj: object, where: str) -> dict[str, torch.Tensor]:
    """Take the state dict out of common checkpoint wrappers (``{"state_dict": ...}`` etc.)."""
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "state_dict_ema", "model_ema"):
            if key in obj and isinstance(obj[key], Mapping):
                return _unwrap(obj[key], where)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise CheckpointError(
        f"{where} holds a {type(obj).__name__} with no state dict in it (expected a mapping of "
        "tensor names to tensors, possibly under 'state_dict' or 'model')"
    )


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): the download or save did not finish")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as error:
            raise ImportError(
                "reading .safetensors needs the safetensors package: pip install 'mnv4_rl[hub]'"
            ) from error
        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own SafetensorError for bad files
            raise CheckpointError(
                f"cannot read {path} as a .safetensors file ({error}); is it complete? "
                "Download it again"
            ) from error
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        if "Unsupported global" in str(error) or "weights_only" in str(error):
            raise CheckpointError(
                f"{path} holds pickled Python objects (a whole nn.Module?), not a state dict; "
                "in the program that saved it, save the weights instead: "
                "torch.save(model.state_dict(), path)"
            ) from None
        raise CheckpointError(
            f"cannot read {path} as a PyTorch checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}); is the file complete?"
        ) from None
    return _unwrap(loaded, str(path))


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
    offline = _no_network()
    try:  # offline: huggingface_hub's own cache only, without its ~25 s of retries
        return Path(hf_hub_download(hub_id, "model.safetensors", local_files_only=offline))
    except Exception as error:  # offline, unknown repo, auth...: all end the same way for the user
        why = "no network" if offline else type(error).__name__
        raise WeightsNotFoundError(f"could not download {hub_id!r} ({why}); {hint}") from None


def _no_network() -> bool:
    """Whether the hub's host name fails to resolve (behind a proxy, the proxy resolves it)."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return True
    return False


def is_hub_id(source: str) -> bool:
    """Whether ``source`` names a hub checkpoint (``owner/name``) rather than a local file.

    A path with a file suffix (``weights/nope.safetensors``, ``runs/last.ckpt``), with more than
    one ``/``, or starting with ``.``, ``/`` or ``~`` is always a local path.
    """
    text = source.removeprefix("hf-hub:").removeprefix("hf_hub:")
    if text.startswith((".", "/", "~")) or Path(text).suffix.lower() in _FILE_SUFFIXES:
        return False
    return _HUB_ID.fullmatch(text) is not None


def read_state_dict(source: str | os.PathLike | Mapping | nn.Module) -> dict[str, torch.Tensor]:
    """Read a state dict from a mapping, a module, a local file or a hub id (``"timm/..."``).

    Raises:
        WeightsNotFoundError: no such local file, or a hub checkpoint that cannot be had.
        CheckpointError: the file exists but holds no readable state dict.
    """
    if isinstance(source, Mapping | nn.Module):
        return _unwrap(source, "the given object")
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        return _read_file(path)
    if is_hub_id(text):
        return _read_file(_download(text.removeprefix("hf-hub:").removeprefix("hf_hub:")))
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
    model: nn.Module,
    source: str | os.PathLike | Mapping | nn.Module,
    verbose: bool = True,
    *,
    frame_channels: int | None = None,
    std: tuple[float, ...] = IMAGENET_STD,
) -> LoadSummary:
    """Load a timm MobileNetV4 checkpoint (or one of ours) into ``model``: the one weights path.

    :func:`mnv4_rl.create_model` and every RL adapter load through here, so a checkpoint is read
    and converted once, and the stem is adapted by one rule (:func:`adapt_stem_weight`).

    Args:
        model: the target network; its ``in_channels``/``num_classes`` may differ from the
            checkpoint's (the stem is adapted, the classifier re-initialised).
        source: a timm state dict, a local ``.safetensors``/``.pth``/``.bin`` file, or a hub id.
        verbose: also emit the summary as a ``UserWarning`` when anything was adapted.
        frame_channels: read the input as stacked frames of this many channels (1 or 3) when
            adapting the stem (the frame rule); ``None``: the generic rule.
        std: the checkpoint's per-colour std, for the frame rule's gray weighting.

    Returns:
        A :class:`LoadSummary` listing every change.

    Raises:
        ValueError: the checkpoint does not fit the architecture; the message names the first
            mismatching key and both shapes.
        WeightsNotFoundError: a file or hub checkpoint could not be found (the message says where
            to download it and where to put it).
        CheckpointError: the file holds no readable state dict.
    """
    summary = LoadSummary(str(source) if isinstance(source, str | os.PathLike) else "a state dict")
    state = convert_timm_state_dict(read_state_dict(source))
    target = model.state_dict()

    stem_key = "stem.conv.weight"
    if stem_key in state and stem_key in target:
        state[stem_key], summary.stem = adapt_stem_weight(
            state[stem_key], target[stem_key].shape[1], frame_channels, std
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
