"""MobileNetV4 feature extractors for Stable-Baselines3.

The classes here are what SB3 stores (by module and name) in every saved model: keep them in this
module. The stable import paths are ``mnv4_rl.sb3.<ClassName>`` and
``mnv4_rl.sb3.extractors.<ClassName>``.

What the extractor receives is what SB3's ``preprocess_obs`` gives it: float tensors, divided by 255
only for 3-D ``uint8`` ``Box(0, 255)`` spaces. Everything else that a frame stack needs happens in
here (see :class:`MobileNetV4Extractor`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from ..accel import compile_model
from ..models import PRETRAINED, MobileNetV4, create_model, resolve_name
from ..models.factory import IMAGENET_MEAN, IMAGENET_STD, default_pretrained_source
from ..weights import LoadSummary, convert_timm_state_dict, load_timm_weights, read_state_dict

__all__ = [
    "LAYOUTS",
    "FrameLayout",
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

# Observation layouts: c = channels of one frame (1 gray, 3 RGB), k = stacked frames.
LAYOUTS = {
    "chw": "(k*c, H, W): SB3 VecFrameStack (+ VecTransposeImage), FrameStackObservation on gray",
    "hwc": "(H, W, k*c): channel-last frames or stacks",
    "khwc": "(k, H, W, c): gymnasium FrameStackObservation on RGB (H, W, 3) frames",
    "kchw": "(k, c, H, W): gymnasium FrameStackObservation on channel-first frames",
    "hw": "(H, W): one grayscale frame without a channel axis",
}
_NDIM = {"chw": 3, "hwc": 3, "khwc": 4, "kchw": 4, "hw": 2}
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


@dataclass(frozen=True)
class FrameLayout:
    """How an observation space holds a stack of frames.

    Attributes:
        layout: one of :data:`LAYOUTS`.
        frames: number of stacked frames ``k``.
        frame_channels: channels per frame ``c`` (1 gray, 3 RGB; other values only with an
            explicit ``in_channels``).
        height: frame height.
        width: frame width.
        guessed: how ``frame_channels`` was guessed, in words ("" when it was given or certain).
    """

    layout: str
    frames: int
    frame_channels: int
    height: int
    width: int
    guessed: str = ""

    @property
    def channels(self) -> int:
        """Input channels of the backbone, ``k * c``."""
        return self.frames * self.frame_channels


def _guess_layout(shape: tuple[int, ...]) -> str:
    if len(shape) == 2:
        return "hw"
    if len(shape) == 3:
        # SB3's own rule (is_image_space_channels_first): the channel axis is the smallest one.
        smallest = int(np.argmin(shape))
        if smallest == 1:
            raise ValueError(
                f"cannot tell the channel axis of shape {shape} (the middle axis is the smallest); "
                "pass layout='chw' or layout='hwc'"
            )
        return "chw" if smallest == 0 else "hwc"
    if len(shape) == 4:
        return "khwc" if shape[-1] < shape[1] else "kchw"
    raise ValueError(
        f"observation shape {shape} is not an image: expected (H, W), (C, H, W), (H, W, C) or "
        "(k, H, W, c) frames; use MobileNetV4CombinedExtractor for Dict spaces or an MLP policy "
        "for vector observations"
    )


def resolve_layout(
    shape: tuple[int, ...],
    layout: str = "auto",
    frame_channels: int | None = None,
    in_channels: int | None = None,
) -> FrameLayout:
    """Work out ``(k, c, H, W)`` from an observation shape; raise a clear error if it is not frames.

    Args:
        shape: the observation space's shape (no batch axis).
        layout: ``"auto"`` or one of :data:`LAYOUTS`. ``"auto"`` uses SB3's rule for 3-D shapes
            (the smallest axis holds the channels) and, for 4-D shapes, puts the channels on the
            smaller of axes 1 and 3.
        frame_channels: channels per frame, 1 or 3. For 3-D layouts it is guessed when not given:
            3 (RGB) when the channel count is a multiple of 3, else 1 (gray).
        in_channels: the total channel count, given explicitly; allows frames with other channel
            counts than 1 or 3 (RGBA, depth...), which are then treated as generic channels.
    """
    shape = tuple(int(s) for s in shape)
    if layout == "auto":
        layout = _guess_layout(shape)
    if layout not in LAYOUTS:
        raise ValueError(
            f"unknown layout {layout!r}; known: 'auto', {', '.join(map(repr, LAYOUTS))}"
        )
    if len(shape) != _NDIM[layout]:
        raise ValueError(f"layout {layout!r} means {LAYOUTS[layout]}, but the shape is {shape}")

    guessed = ""
    if layout in ("chw", "hwc"):
        channels, height, width = shape if layout == "chw" else (shape[2], shape[0], shape[1])
        if frame_channels is None:
            frame_channels = 3 if channels % 3 == 0 else 1
            frames = channels // frame_channels
            kind = "RGB" if frame_channels == 3 else "grayscale"
            other = "1" if frame_channels == 3 else "3"
            guessed = (
                f"read {channels} channels as {frames} {kind} frame(s) "
                f"(pass frame_channels={other} if that is wrong)"
            )
        if channels % frame_channels:
            raise ValueError(
                f"{channels} channels is not a stack of {frame_channels}-channel frames "
                f"(shape {shape}, layout {layout!r}); expected k*1 or k*3 channels, or pass "
                f"in_channels={channels} to use the channels as they are"
            )
        frames = channels // frame_channels
    elif layout == "khwc":
        frames, height, width, channel_axis = shape
        frames, frame_channels = _check_stacked(frames, channel_axis, frame_channels, shape, layout)
    elif layout == "kchw":
        frames, channel_axis, height, width = shape
        frames, frame_channels = _check_stacked(frames, channel_axis, frame_channels, shape, layout)
    else:  # "hw"
        height, width = shape
        frames, frame_channels = 1, 1

    found = FrameLayout(layout, frames, frame_channels, height, width, guessed)
    if in_channels is not None:
        if in_channels != found.channels:
            raise ValueError(
                f"in_channels={in_channels} but the observation (shape {shape}, layout {layout!r}) "
                f"has {found.channels} channels"
            )
    elif frame_channels not in (1, 3):
        raise ValueError(
            f"frames with {frame_channels} channels (shape {shape}, layout {layout!r}): expected "
            "stacks of 1-channel (grayscale) or 3-channel (RGB) frames; convert the frames (e.g. "
            f"gymnasium.wrappers.GrayscaleObservation, or drop the alpha channel) or pass "
            f"in_channels={found.channels} to use the channels as they are"
        )
    return found


def _check_stacked(
    frames: int, channels: int, frame_channels: int | None, shape: tuple, layout: str
) -> tuple[int, int]:
    if frame_channels is not None and frame_channels != channels:
        raise ValueError(
            f"frame_channels={frame_channels} but the frames in shape {shape} (layout {layout!r}) "
            f"have {channels} channels"
        )
    return frames, channels


def _divide_by_255(space: spaces.Box, normalized_image: bool) -> bool:
    """Whether the extractor must divide by 255 itself (SB3 does it for 3-D uint8 images only)."""
    uint8_255 = space.dtype == np.uint8 and np.all(space.low == 0) and np.all(space.high == 255)
    if uint8_255:
        # SB3 divides 3-D uint8 [0, 255] image spaces by 255; other shapes arrive as raw floats.
        sb3_divides = is_image_space(space, check_channels=False, normalized_image=False)
        return not sb3_divides
    if normalized_image:
        return False
    if space.dtype == np.uint8:
        raise ValueError(
            f"uint8 observation space with bounds other than [0, 255] ({space}): pass "
            "normalized_image=True if its values already lie in [0, 1]"
        )
    raise ValueError(
        f"{space.dtype} observation space {space}: SB3 divides only uint8 [0, 255] images by 255 "
        "(SB3 issue #268), so pass normalized_image=True if the values lie in [0, 1], or give the "
        "env a uint8 Box(0, 255) observation space"
    )


def _adapt_stem(state: dict[str, torch.Tensor], frames: FrameLayout, std: tuple) -> str:
    """Adapt an RGB stem kernel to a stack of ``k`` frames of ``c`` channels, in place; say how.

    RGB frames: the kernel is repeated per frame and divided by ``k``. Gray frames: the colour
    kernels are summed (weighted by ``std_gray / std_c`` so a gray value has the gain of the same
    gray RGB pixel) and divided by ``k``. Either way ``k`` identical frames give the response of
    the single RGB frame. Other channel counts are left to :func:`mnv4_rl.load_timm_weights`.
    """
    key = "stem.conv.weight"
    weight = state.get(key)
    if weight is None or weight.shape[1] != 3 or frames.channels == 3:
        return ""
    if frames.frame_channels not in (1, 3):
        return ""
    k = frames.frames
    if frames.frame_channels == 3:
        state[key] = weight.repeat(1, k, 1, 1) / k
        return (
            f"stem adapted to {k} stacked RGB frames: RGB kernel repeated per frame and divided "
            f"by {k} (k equal frames give the response of one frame)"
        )
    gain = torch.tensor([float(np.mean(std)) / s for s in std], dtype=weight.dtype)
    gray = (weight * gain.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    state[key] = gray.repeat(1, k, 1, 1) / k
    return (
        f"stem adapted to {k} stacked grayscale frame(s): RGB kernel summed over colour "
        f"(weighted by std) and divided by {k}"
    )


class MobileNetV4Extractor(BaseFeaturesExtractor):
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
      must be in ``[0, 1]`` already and need ``normalized_image=True`` (as NatureCNN);
    * with ``pretrained``: mean/std normalisation with the checkpoint's statistics (each RGB frame
      with the RGB mean/std, gray frames with their average), and the RGB stem adapted to the stack.

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
        normalized_image: the (float) space already holds values in ``[0, 1]``.
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
            than the network's minimum (32x32), or a float space without ``normalized_image``.
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
        if not isinstance(observation_space, spaces.Box):
            hint = (
                "; use MobileNetV4CombinedExtractor (with MultiInputPolicy) for Dict spaces"
                if isinstance(observation_space, spaces.Dict)
                else ""
            )
            raise TypeError(
                f"{type(self).__name__} needs a gymnasium.spaces.Box of image frames, got "
                f"{type(observation_space).__name__}{hint}"
            )
        super().__init__(observation_space, features_dim)
        self.frames = resolve_layout(observation_space.shape, layout, frame_channels, in_channels)
        self.divide_by_255 = _divide_by_255(observation_space, normalized_image)
        self.variant = variant
        self.norm = norm or default_norm(pretrained)

        self.backbone: MobileNetV4 = create_model(
            variant, in_channels=self.frames.channels, num_classes=0, norm=self.norm, **model_kwargs
        )
        smallest = min(self.frames.height, self.frames.width)
        if smallest < self.backbone.min_input_size:
            minimum = self.backbone.min_input_size
            raise ValueError(
                f"observation frames are {self.frames.height}x{self.frames.width}, but MobileNetV4 "
                f"downsamples by {minimum}: height and width must be at least {minimum}; "
                + _RESIZE_HINT
            )
        self.projection = nn.Sequential(
            nn.Linear(self.backbone.head_hidden_size, features_dim), nn.ReLU()
        )
        self.pretrained_summary: LoadSummary | None = None
        base, tag = resolve_name(variant)
        config = PRETRAINED.get(base)
        mean, std = (config.mean, config.std) if config else (IMAGENET_MEAN, IMAGENET_STD)
        self.input_norm = bool(pretrained) if input_norm is None else input_norm
        self.register_buffer("input_mean", None, persistent=False)
        self.register_buffer("input_std", None, persistent=False)
        if self.input_norm:
            self._set_input_stats(mean, std)
        if pretrained:
            source: Any = default_pretrained_source(base, tag) if pretrained is True else pretrained
            self._load_pretrained(source, std)
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

    # ---------------------------------------------------------------------------- pretrained
    def _set_input_stats(self, mean: tuple, std: tuple) -> None:
        """Per-channel mean/std: RGB ones repeated per frame; their averages for other frames."""
        if self.frames.frame_channels == 3:
            mean_c, std_c = list(mean) * self.frames.frames, list(std) * self.frames.frames
        else:
            mean_c = [float(np.mean(mean))] * self.frames.channels
            std_c = [float(np.mean(std))] * self.frames.channels
        self.input_mean = torch.tensor(mean_c).view(1, -1, 1, 1)
        self.input_std = torch.tensor(std_c).view(1, -1, 1, 1)

    def _load_pretrained(self, source: Any, std: tuple) -> None:
        state = convert_timm_state_dict(read_state_dict(source))
        stem_note = _adapt_stem(state, self.frames, std)
        summary = load_timm_weights(self.backbone, state, verbose=False)
        summary.source = source if isinstance(source, str | Path) else "a state dict"
        summary.notes[:0] = [n for n in (self.frames.guessed, stem_note) if n]
        self.pretrained_summary = summary
        warnings.warn(f"{type(self).__name__}: {summary}", UserWarning, stacklevel=3)

    # ------------------------------------------------------------------------------- forward
    def to_nchw(self, observations: torch.Tensor) -> torch.Tensor:
        """Reorder a batch of observations to frame-major ``(B, k*c, H, W)``, scaled to [0, 1]."""
        x = observations
        if self.divide_by_255:
            x = x / 255.0
        layout, batch = self.frames.layout, x.shape[0]
        height, width = self.frames.height, self.frames.width
        if layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif layout == "khwc":
            x = x.permute(0, 1, 4, 2, 3).reshape(batch, self.frames.channels, height, width)
        elif layout == "kchw":
            x = x.reshape(batch, self.frames.channels, height, width)
        elif layout == "hw":
            x = x.unsqueeze(1)
        return x

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = self.to_nchw(observations)
        if self.input_mean is not None:
            x = (x - self.input_mean) / self.input_std
        return self.projection(self._rollout_backbone()(x))

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
        f = self.frames
        return (
            f"variant={self.variant!r}, layout={f.layout!r}, "
            f"frames={f.frames}x{f.frame_channels}ch {f.height}x{f.width}, norm={self.norm!r}, "
            f"divide_by_255={self.divide_by_255}, input_norm={self.input_norm}, "
            f"pretrained={self.pretrained_summary is not None}"
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
