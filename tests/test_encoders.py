"""FrameEncoder on its own (no framework): how it is built from the options, the augmentation in
training mode only, the projection width, and clear errors for options an entry does not take."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from mnv4_rl import FrameEncoder, resolve_options

FRAMES = gym.spaces.Box(0, 255, (4, 48, 48), np.uint8)


def test_the_entrys_width_is_the_default_and_can_be_set() -> None:
    obs = torch.randint(0, 256, (2, 4, 48, 48), dtype=torch.uint8)
    assert FrameEncoder(FRAMES, "nano")(obs).shape == (2, 512)
    assert FrameEncoder(FRAMES, "impala")(obs).shape == (2, 256)
    assert FrameEncoder(FRAMES, "impala", 32)(obs).shape == (2, 32)


def test_the_augmentation_runs_in_training_mode_only() -> None:
    encoder = FrameEncoder(FRAMES, "impala", augment="shift", pad=4)
    obs = torch.randint(0, 256, (8, 4, 48, 48), dtype=torch.uint8)
    encoder.eval()
    assert torch.equal(encoder(obs), encoder(obs))
    encoder.train()
    assert not torch.equal(encoder(obs), encoder(obs))


def test_an_encoder_builds_from_its_options_alone() -> None:
    options = resolve_options(FRAMES, "nano", 64, norm="batch", drop_path_rate=0.1)
    encoder = FrameEncoder(options)
    assert encoder.options.norm == "batch" and encoder.features_dim == 64
    assert dict(encoder.options.model_kwargs) == {"drop_path_rate": 0.1}


@pytest.mark.parametrize(
    ("encoder", "kwargs", "match"),
    [
        ("impala", {"norm": "batch"}, "unknown norm 'batch' for encoder 'impala'; it has none"),
        ("impala", {"drop_path_rate": 0.1}, "takes no option drop_path_rate"),
        ("impala", {"pretrained": True}, "'impala' has no pretrained weights; drop pretrained"),
        ("nano", {"augment": "flip"}, "unknown augmentation 'flip'; known: 'shift'"),
        ("nano", {"augment": "shift", "pad": 48}, "smaller than the frame"),
        ("nano", {"mean": (0.5, 0.5, 0.5)}, "pass mean and std together"),
        ("nano", {"features_dim": 0}, "features_dim must be a positive integer"),
    ],
)
def test_options_an_entry_does_not_take_are_refused(encoder, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_options(FRAMES, encoder, **kwargs)


def test_frames_smaller_than_the_network_say_how_to_resize() -> None:
    with pytest.raises(ValueError, match="at least 32.*ResizeObservation"):
        FrameEncoder(gym.spaces.Box(0, 255, (4, 16, 16), np.uint8), "nano")


def test_load_weights_false_builds_what_the_weights_imply_without_reading_them() -> None:
    options = resolve_options(FRAMES, "nano", pretrained="/no/such/file.pth", load_weights=False)
    encoder = FrameEncoder(options)  # no file is read
    assert encoder.options.norm == "frozen" and encoder.options.input_norm
    assert encoder.options.load_summary is None
