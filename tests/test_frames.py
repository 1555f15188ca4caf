"""Frame handling on its own (torch and numpy only): layouts, value ranges, statistics per stack,
and the input module that brings every layout to the same network input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from mnv4_rl.frames import FrameInput, frame_stats, resolve_layout, resolve_value_range


@pytest.mark.parametrize(
    ("shape", "layout", "expected"),
    [
        ((4, 84, 84), "chw", (4, 1)),
        ((84, 84, 4), "hwc", (4, 1)),
        ((84, 84, 12), "hwc", (4, 3)),
        ((4, 96, 96, 3), "khwc", (4, 3)),
        ((4, 3, 96, 96), "kchw", (4, 3)),
        ((84, 84), "hw", (1, 1)),
    ],
)
def test_every_layout_is_read(shape, layout, expected) -> None:
    frames = resolve_layout(shape)
    assert (frames.layout, frames.frames, frames.frame_channels) == (layout, *expected)
    assert frames.channels == expected[0] * expected[1]


def test_a_guess_is_said_and_can_be_overridden() -> None:
    guessed = resolve_layout((6, 64, 64))
    assert (guessed.frames, guessed.frame_channels) == (2, 3)
    assert "pass frame_channels=1" in guessed.guessed
    given = resolve_layout((6, 64, 64), frame_channels=1)
    assert (given.frames, given.guessed) == (6, "")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (64, 2, 64)}, "layout='chw'"),
        ({"shape": (8,)}, "is not an image"),
        ({"shape": (4, 64, 64, 4)}, "in_channels=16"),
        ({"shape": (84, 84, 4), "frame_channels": 3}, r"k\*1 or k\*3"),
        ({"shape": (4, 64, 64), "layout": "nchw"}, "known: 'auto'"),
    ],
)
def test_bad_shapes_name_the_fix(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_layout(**kwargs)


def test_value_ranges_are_decided_from_dtype_and_bounds() -> None:
    u8 = spaces.Box(0, 255, (4, 8, 8), np.uint8)
    assert resolve_value_range(u8).divisor == 255.0
    assert resolve_value_range(u8, scaled_by_framework=True).divisor == 1.0
    signed = resolve_value_range(spaces.Box(-1.0, 1.0, (4, 8, 8), np.float32))
    assert (signed.divisor, signed.offset) == (2.0, 0.5)
    with pytest.warns(UserWarning, match="not an image range"):
        resolve_value_range(spaces.Box(-10.0, 10.0, (4, 8, 8), np.float32))


def test_statistics_repeat_per_rgb_frame_and_average_for_grey() -> None:
    mean, std = (0.1, 0.2, 0.3), (0.4, 0.5, 0.6)
    rgb = frame_stats(resolve_layout((2, 8, 8, 3)), mean, std)
    assert rgb == ([0.1, 0.2, 0.3] * 2, [0.4, 0.5, 0.6] * 2)
    grey_mean, grey_std = frame_stats(resolve_layout((4, 8, 8)), mean, std)
    assert grey_mean == pytest.approx([0.2] * 4) and grey_std == pytest.approx([0.5] * 4)


def test_every_layout_gives_the_same_network_input() -> None:
    generator = torch.Generator().manual_seed(0)
    stack = torch.randint(0, 256, (3, 2, 3, 16, 16), dtype=torch.uint8, generator=generator)
    reference = stack.reshape(3, 6, 16, 16).float() / 255  # frame-major, channels first
    views = {
        "chw": stack.reshape(3, 6, 16, 16),
        "hwc": stack.reshape(3, 6, 16, 16).permute(0, 2, 3, 1),
        "khwc": stack.permute(0, 1, 3, 4, 2),
        "kchw": stack,
    }
    for layout, obs in views.items():
        frames = resolve_layout(tuple(obs.shape[1:]), layout, frame_channels=3)
        space = spaces.Box(0, 255, tuple(obs.shape[1:]), np.uint8)
        module = FrameInput(frames, resolve_value_range(space))
        assert torch.equal(module(obs), reference), layout
    assert not list(module.state_dict())  # nothing to save: checkpoints do not depend on it
