"""The RL-shaped variant ``nano_rl``: nano's stages behind a patchify stem, ours (not timm's)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

import mnv4_rl
from mnv4_rl import create_model
from mnv4_rl.models.specs import CONV_SMALL_050, NANO_RL
from mnv4_rl.sb3 import MNv4NanoRLExtractor


def test_nano_rl_is_nano_behind_a_patchify_stem() -> None:
    rl, nano = create_model("nano_rl", in_channels=4), create_model("nano", in_channels=4)
    stem = rl.stem.conv
    assert (stem.kernel_size, stem.stride, stem.padding) == ((4, 4), (4, 4), (0, 0))
    assert stem.out_channels == nano.blocks[0][-1].conv.out_channels == 16
    # Stages 1-4 and the head are nano's, tensor for tensor.
    nano_tensors = {
        key: value.shape for key, value in nano.state_dict().items() if not key.startswith("stem")
    }
    renamed = {}
    for key, value in rl.state_dict().items():
        if key.startswith("blocks."):
            stage, rest = key[len("blocks.") :].split(".", 1)
            key = f"blocks.{int(stage) + 1}.{rest}"
        if not key.startswith("stem"):
            renamed[key] = value.shape
    nano_tensors = {k: v for k, v in nano_tensors.items() if not k.startswith("blocks.0.")}
    assert renamed == nano_tensors
    assert NANO_RL.stages == CONV_SMALL_050.stages[1:]


def test_nano_rl_shapes_costs_and_names() -> None:
    model = create_model("nano_rl", in_channels=4, num_classes=0).eval()
    x = torch.rand(2, 4, 84, 84)
    with torch.no_grad():
        maps = model.forward_intermediates(x)
        pooled = model(x)
    assert [tuple(m.shape[1:]) for m in maps] == [
        (16, 21, 21),
        (32, 11, 11),
        (48, 6, 6),
        (480, 3, 3),
    ]
    assert [e["reduction"] for e in model.feature_info] == [4, 8, 16, 32]
    assert pooled.shape == (2, 1280)
    assert model.min_input_size == 32
    nano = create_model("nano", in_channels=4, num_classes=0)
    assert mnv4_rl.count_macs(model, (4, 84, 84)) < 0.7 * mnv4_rl.count_macs(nano, (4, 84, 84))
    assert "nano_rl" in mnv4_rl.list_models()
    assert "nano_rl" not in mnv4_rl.VARIANTS  # timm's family stays timm's


def test_nano_rl_has_no_pretrained_weights_and_says_so() -> None:
    with pytest.raises(ValueError, match="'nano_rl' has no pretrained weights; drop pretrained"):
        create_model("nano_rl", pretrained=True)


def test_nano_rl_rejects_frames_smaller_than_its_stride() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        create_model("nano_rl", in_channels=4)(torch.rand(1, 4, 28, 84))


def test_nano_rl_extractor_trains_with_ppo() -> None:
    """The named extractor in a real PPO update on stacked uint8 frames (channels last)."""

    class Frames(gym.Env):
        observation_space = spaces.Box(0, 255, (84, 84, 4), np.uint8)
        action_space = spaces.Discrete(3)

        def reset(self, *, seed=None, options=None):  # noqa: ANN001, ANN201
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):  # noqa: ANN001, ANN201
            return self.observation_space.sample(), float(action == 1), False, False, {}

    model = PPO(
        "CnnPolicy",
        Frames(),
        n_steps=32,
        batch_size=16,
        n_epochs=1,
        policy_kwargs=dict(features_extractor_class=MNv4NanoRLExtractor, net_arch=[]),
        seed=0,
    )
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(32)
    stem_key = "features_extractor.backbone.stem.conv.weight"
    assert model.policy.features_extractor.variant == "nano_rl"
    assert not torch.equal(before[stem_key], model.policy.state_dict()[stem_key])
