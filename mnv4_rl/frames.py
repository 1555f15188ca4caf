"""Frame stacks as RL frameworks hand them over: layouts, value ranges and the input module.

Framework-free (torch and numpy only): the SB3 and RLlib adapters and the exporter all call this
module, so a layout is read, a value range mapped and a checkpoint's mean/std applied in one
place.

- :func:`resolve_layout` reads ``(k, c, H, W)`` from an observation shape: k stacked frames of c
  channels each (1 gray, 3 RGB), in any of the :data:`LAYOUTS`.
- :func:`resolve_value_range` decides how values reach ``[0, 1]`` from the space's dtype and
  bounds.
- :class:`FrameInput` does both to a batch: ``(B, *shape) -> (B, k*c, H, W)`` float, frame-major
  (frame 0's channels first, as SB3's ``VecFrameStack`` concatenates them), optionally normalised
  with a pretrained checkpoint's mean and std.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "LAYOUTS",
    "FrameInput",
    "FrameLayout",
    "ValueRange",
    "frame_stats",
    "resolve_layout",
    "resolve_value_range",
]

# Observation layouts: c = channels of one frame (1 gray, 3 RGB), k = stacked frames.
LAYOUTS = {
    "chw": "(k*c, H, W): SB3 VecFrameStack (+ VecTransposeImage), FrameStackObservation on gray",
    "hwc": "(H, W, k*c): channel-last frames or stacks (RLlib's Atari frame stacks)",
    "khwc": "(k, H, W, c): gymnasium FrameStackObservation on RGB (H, W, 3) frames",
    "kchw": "(k, c, H, W): gymnasium FrameStackObservation on channel-first frames",
    "hw": "(H, W): one grayscale frame without a channel axis",
}
_NDIM = {"chw": 3, "hwc": 3, "khwc": 4, "kchw": 4, "hw": 2}


@dataclass(frozen=True)
class FrameLayout:
    """How an observation holds a stack of frames.

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
        """Input channels of the network, ``k * c``."""
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
        "(k, H, W, c) frames; use a Dict-space extractor for mixed observations or an MLP "
        "policy for vector observations"
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
    elif layout in ("khwc", "kchw"):
        if layout == "khwc":
            frames, height, width, channel_axis = shape
        else:
            frames, channel_axis, height, width = shape
        if frame_channels is not None and frame_channels != channel_axis:
            raise ValueError(
                f"frame_channels={frame_channels} but the frames in shape {shape} (layout "
                f"{layout!r}) have {channel_axis} channels"
            )
        frame_channels = channel_axis
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


@dataclass(frozen=True)
class ValueRange:
    """How observation values reach the network: ``x / divisor + offset``.

    Attributes:
        divisor: 255 for ``uint8`` ``[0, 255]`` frames, 2 for ``[-1, 1]`` frames, else 1.
        offset: 0.5 for ``[-1, 1]`` frames, else 0.
        note: the rule that applied, in words.
    """

    divisor: float = 1.0
    offset: float = 0.0
    note: str = "values used as given"


def _bounds(space: Any) -> tuple[float, float]:
    low, high = np.asarray(space.low), np.asarray(space.high)
    if low.size and np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
        return float(low.flat[0]), float(high.flat[0])
    return float(low.min()), float(high.max())


def resolve_value_range(
    space: Any, *, scaled_by_framework: bool = False, normalized_image: bool = False
) -> ValueRange:
    """The rule that brings observations of ``space`` to ``[0, 1]``.

    - ``uint8`` ``[0, 255]`` frames are divided by 255, unless the framework already did
      (``scaled_by_framework``: SB3 divides 3-D ``uint8`` ``[0, 255]`` image spaces).
    - float ``[-1, 1]`` frames (RLlib's Atari pipeline, ``x / 128 - 1``) are mapped to ``[0, 1]``.
    - Everything else is used as given, never divided: ``[0, 1]`` floats, and spaces whose bounds
      are not image bounds (``VecNormalize``'s ``[-10, 10]``, say). For those a warning says so
      once, unless ``normalized_image=True`` declares the values fine as they are.

    Args:
        space: anything with ``dtype``, ``low`` and ``high`` (a ``gymnasium.spaces.Box``).
        scaled_by_framework: the framework divides these observations by 255 itself.
        normalized_image: the values are already what the network should see (SB3's flag).
    """
    low, high = _bounds(space)
    dtype = np.dtype(space.dtype)
    if dtype == np.uint8 and (low, high) == (0.0, 255.0):
        if scaled_by_framework:
            return ValueRange(note="uint8 [0, 255] frames, divided by 255 by the framework")
        return ValueRange(255.0, 0.0, "uint8 [0, 255] frames divided by 255")
    if normalized_image:
        return ValueRange(note="values used as given (normalized_image=True)")
    if np.issubdtype(dtype, np.floating) and (low, high) == (-1.0, 1.0):
        return ValueRange(2.0, 0.5, "[-1, 1] frames mapped to [0, 1] by (x + 1) / 2")
    if (low, high) != (0.0, 1.0):
        warnings.warn(
            f"observation space {dtype} [{low:g}, {high:g}] is not an image range ([0, 1], "
            "uint8 [0, 255] or [-1, 1]): values are used as given, not divided by 255; pass "
            "normalized_image=True to silence this",
            UserWarning,
            stacklevel=3,
        )
    return ValueRange()


def frame_stats(
    frames: FrameLayout, mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of a stack: RGB ones repeated per frame; their averages for gray
    frames (a gray value is the average of the colour channels it stands for)."""
    if frames.frame_channels == 3:
        return list(mean) * frames.frames, list(std) * frames.frames
    grey_mean, grey_std = float(np.mean(mean)), float(np.mean(std))
    return [grey_mean] * frames.channels, [grey_std] * frames.channels


class FrameInput(nn.Module):
    """A batch of observations to the network's input: ``(B, *shape) -> (B, k*c, H, W)`` float.

    Scales values (:class:`ValueRange`), reorders any layout to frame-major channels-first, and
    normalises with ``mean``/``std`` when given. It holds no trainable state and nothing in the
    state dict (its statistics are non-persistent buffers), so checkpoints do not depend on it.

    Args:
        frames: the layout (:func:`resolve_layout`).
        value_range: the scaling (:func:`resolve_value_range`).
        mean: per-channel mean of the ``k*c`` channels (:func:`frame_stats`), or ``None``.
        std: per-channel std, with ``mean``.
    """

    def __init__(
        self,
        frames: FrameLayout,
        value_range: ValueRange = ValueRange(),
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.frames = frames
        self.value_range = value_range
        self.register_buffer("mean", None, persistent=False)
        self.register_buffer("std", None, persistent=False)
        if mean is not None and std is not None:
            self.mean = torch.tensor(mean).view(1, -1, 1, 1)
            self.std = torch.tensor(std).view(1, -1, 1, 1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations if observations.is_floating_point() else observations.float()
        scale = self.value_range
        if scale.divisor != 1.0:
            x = x / scale.divisor
        if scale.offset != 0.0:
            x = x + scale.offset
        f = self.frames
        batch = x.shape[0]
        if f.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif f.layout == "khwc":
            x = x.permute(0, 1, 4, 2, 3).reshape(batch, f.channels, f.height, f.width)
        elif f.layout == "kchw":
            x = x.reshape(batch, f.channels, f.height, f.width)
        elif f.layout == "hw":
            x = x.unsqueeze(1)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def extra_repr(self) -> str:
        f = self.frames
        return (
            f"layout={f.layout!r}, frames={f.frames}x{f.frame_channels}ch {f.height}x{f.width}, "
            f"values: {self.value_range.note}, mean/std: {self.mean is not None}"
        )
