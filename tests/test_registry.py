"""The encoder registry: every timm weight tag with its own statistics, names resolved once, and a
user's own encoder reaching every adapter (SB3, RLlib, rl-zoo3 configs, the bench) through one
``register_encoder`` call."""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym
import numpy as np
import pytest
import timm
import torch
from helpers import cache_timm_weights, colour_vec_env
from stable_baselines3 import PPO
from timm.models import get_pretrained_cfg
from torch import nn

import mnv4_rl
from mnv4_lab.bench.encoders import build_extractor, parse_encoder
from mnv4_rl import FrameEncoder, register_encoder, resolve_options
from mnv4_rl.registry import TIMM_WEIGHTS, get_encoder, list_encoders, resolve_encoder
from mnv4_rl.sb3 import encoder_policy_kwargs, mnv4_policy_kwargs, sb3_encoders

FRAMES = gym.spaces.Box(0, 255, (4, 48, 48), np.uint8)


def _timm_tags() -> dict[str, list[str]]:
    """timm's pretrained MobileNetV4 tags per variant this package builds."""
    tags: dict[str, list[str]] = {}
    for name in timm.list_models("mobilenetv4_*", pretrained=True):
        architecture, _, tag = name.partition(".")
        variant = architecture.removeprefix("mobilenetv4_")
        if variant in mnv4_rl.VARIANTS:
            tags.setdefault(variant, []).append(tag)
    return tags


def test_the_registry_holds_every_timm_tag_of_the_family() -> None:
    registered = {name: sorted(cfg.tag for cfg in cfgs) for name, cfgs in TIMM_WEIGHTS.items()}
    assert registered == {variant: sorted(tags) for variant, tags in _timm_tags().items()}


@pytest.mark.parametrize(
    "hub_id", [f"timm/mobilenetv4_{v}.{t}" for v, tags in _timm_tags().items() for t in tags]
)
def test_every_tag_brings_timms_own_statistics(hub_id: str) -> None:
    cfg = get_pretrained_cfg(hub_id.removeprefix("timm/"))
    entry, tag = resolve_encoder(hub_id.removeprefix("timm/"))
    ours = entry.checkpoint(tag)
    assert (ours.hub_id, ours.mean, ours.std) == (hub_id, cfg.mean, cfg.std)
    assert ours.input_size == cfg.input_size[-1]
    # The options of an encoder built with that checkpoint normalise with its statistics,
    # whichever way it is named: the pretrained hub id, the tag, or the name with its tag.
    variant = hub_id.removeprefix("timm/mobilenetv4_").partition(".")[0]
    for encoder, pretrained in ((variant, hub_id), (variant, tag), (f"{variant}.{tag}", True)):
        options = resolve_options(FRAMES, encoder, pretrained=pretrained, load_weights=False)
        assert (options.mean, options.std) == (cfg.mean, cfg.std)
        assert options.weights.tag == tag


def _from_cache(tmp_path, monkeypatch, hub_id: str, encoder: str, pretrained) -> FrameEncoder:
    """A FrameEncoder with ``pretrained`` read from a cache holding ``hub_id`` (no download)."""
    cache_timm_weights(tmp_path, hub_id)
    monkeypatch.setenv("MNV4_RL_WEIGHTS", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the stem rule's report
        return FrameEncoder(FRAMES, encoder, pretrained=pretrained)


def test_the_e3600_tag_is_normalised_with_its_half_statistics(tmp_path, monkeypatch) -> None:
    """The bug the registry fixed: the tag trained with mean = std = 0.5 was normalised with
    ImageNet's statistics, because the table was keyed per variant."""
    hub_id = "timm/mobilenetv4_conv_small.e3600_r256_in1k"
    encoder = _from_cache(tmp_path, monkeypatch, hub_id, "small", hub_id)
    assert encoder.options.mean == (0.5, 0.5, 0.5)
    assert torch.allclose(encoder.preprocess.mean, torch.full((1, 4, 1, 1), 0.5))
    default = resolve_options(FRAMES, "small", pretrained=True, load_weights=False)
    assert default.mean == (0.485, 0.456, 0.406) and default.weights.tag == "e2400_r224_in1k"


def test_names_resolve_once_to_one_entry() -> None:
    assert get_encoder("nano") is get_encoder("conv_small_050") is get_encoder("mobilenet_v4_nano")
    assert resolve_encoder("mobilenetv4_conv_small.e1200_r224_in1k")[1] == "e1200_r224_in1k"
    with pytest.raises(ValueError, match="no weight tag 'e9_r1'.*e2400_r224_in1k"):
        resolve_encoder("conv_small.e9_r1")
    options = resolve_options(FRAMES, "nano")
    assert options.encoder == "conv_small_050" and options.norm == "group"
    assert resolve_options(FRAMES, "impala").norm is None
    assert resolve_options(FRAMES, "nano", pretrained=True, load_weights=False).norm == "frozen"


@pytest.mark.parametrize(
    "call",
    [
        lambda: mnv4_policy_kwargs("samll"),
        lambda: encoder_policy_kwargs("impalla"),
        lambda: resolve_options(FRAMES, "nanoo"),
    ],
)
def test_misspelt_names_fail_at_once_with_the_known_names(call) -> None:
    with pytest.raises(ValueError, match="unknown encoder .*known: conv_small.*impala"):
        call()


def test_options_are_frozen_and_carry_the_load_summary(tmp_path, monkeypatch) -> None:
    hub_id = "timm/mobilenetv4_conv_small_050.e3000_r224_in1k"
    encoder = _from_cache(tmp_path, monkeypatch, hub_id, "nano", True)
    summary = encoder.options.load_summary
    assert summary.loaded > 0 and "4 grayscale frame(s)" in summary.stem
    with pytest.raises(AttributeError):
        encoder.options.norm = "batch"  # frozen
    record = encoder.options.record()
    assert record["weights"] == hub_id and record["norm"] == "frozen"


def test_the_options_record_travels_with_the_weights() -> None:
    encoder = FrameEncoder(FRAMES, "nano")
    state = encoder.state_dict()
    assert state["record.options"].dtype == torch.uint8
    FrameEncoder(gym.spaces.Box(0, 255, (48, 48, 4), np.uint8), "nano").load_state_dict(state)
    normalised = FrameEncoder(FRAMES, "nano", input_norm=True)
    with pytest.raises(RuntimeError, match="saved encoder was built with other options"):
        normalised.load_state_dict(state)
    del state["record.options"]  # saved before the record existed
    normalised.load_state_dict(state)


class TinyCNN(nn.Module):
    """A user's own backbone: two strided convolutions, flattened."""

    def __init__(self, channels: int, height: int, width: int, width_multiplier: int = 1) -> None:
        super().__init__()
        c = 8 * width_multiplier
        self.net = nn.Sequential(
            nn.Conv2d(channels, c, 4, 2), nn.ReLU(), nn.Conv2d(c, c, 4, 2), nn.Flatten()
        )
        with torch.no_grad():
            self.head_hidden_size = self.net(torch.zeros(1, channels, height, width)).shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture
def tiny_entry():
    entry = register_encoder(
        "tiny_cnn",
        lambda frames, norm, **options: TinyCNN(
            frames.channels, frames.height, frames.width, **options
        ),
        description="a test backbone",
        features_dim=24,
        options=("width_multiplier",),
        replace=True,
    )
    yield entry
    from mnv4_rl import registry

    registry._REGISTRY.pop("tiny_cnn")


def test_a_registered_encoder_reaches_every_adapter(tiny_entry, tmp_path) -> None:
    from mnv4_rl.rllib import mnv4_module_spec

    assert "tiny_cnn" in list_encoders() and "tiny_cnn" in sb3_encoders()
    # SB3: trains, with the entry's width and options.
    kwargs = encoder_policy_kwargs("tiny_cnn", "ppo", width_multiplier=2)
    assert kwargs["features_extractor_kwargs"]["features_dim"] == 24
    model = PPO("CnnPolicy", colour_vec_env("chw"), n_steps=16, batch_size=16, n_epochs=1,
                policy_kwargs=kwargs, seed=0)  # fmt: skip
    model.learn(16)
    assert model.policy.features_extractor.backbone.net[0].out_channels == 16
    # RLlib: the module builds with it.
    space = gym.spaces.Box(0, 255, (48, 48, 3), np.uint8)
    module = mnv4_module_spec(
        "tiny_cnn", observation_space=space, action_space=gym.spaces.Discrete(2)
    ).build()
    assert module.encoder.features_dim == 24
    # rl-zoo3: its config modules exist.
    config = importlib.import_module("mnv4_rl.zoo.dqn_tiny_cnn").hyperparams["atari"]
    assert config["policy_kwargs"]["features_extractor_kwargs"]["encoder"] == "tiny_cnn"
    # The bench: its spec syntax takes it.
    spec = parse_encoder("tiny_cnn@width_multiplier=2")
    extractor = build_extractor(spec, gym.spaces.Box(0, 255, (4, 84, 84), np.uint8))
    assert extractor.backbone.net[0].out_channels == 16


def test_the_wide_impala_entry_reaches_every_adapter(tmp_path) -> None:
    """impala_x4 is one registry entry (see its commit): SB3, RLlib, rl-zoo3 and the bench take it."""
    from mnv4_rl.rllib import mnv4_module_spec

    kwargs = encoder_policy_kwargs("impala_x4", "ppo")
    model = PPO("CnnPolicy", colour_vec_env("chw"), n_steps=16, batch_size=16, n_epochs=1,
                policy_kwargs=kwargs, seed=0)  # fmt: skip
    model.learn(16)
    assert model.policy.features_extractor.backbone.stages[0].conv.out_channels == 64
    space = gym.spaces.Box(0, 255, (48, 48, 3), np.uint8)
    module = mnv4_module_spec(
        "impala_x4", observation_space=space, action_space=gym.spaces.Discrete(2)
    ).build()
    assert module.encoder.backbone.stages[2].conv.out_channels == 128
    config = importlib.import_module("mnv4_rl.zoo.ppo_impala_x4").hyperparams["atari"]
    assert config["policy_kwargs"]["features_extractor_kwargs"]["features_dim"] == 256
    assert parse_encoder("impala_x4@augment=shift").kind == "encoder"


def test_register_encoder_refuses_bad_names(tiny_entry) -> None:
    build = tiny_entry.build
    with pytest.raises(ValueError, match="is taken"):
        register_encoder("tiny_cnn", build)
    with pytest.raises(ValueError, match="is taken"):
        register_encoder("other", build, aliases=("nano",))
    with pytest.raises(ValueError, match="framework's own baseline"):
        register_encoder("nature", build)
    with pytest.raises(ValueError, match="letters, digits"):
        register_encoder("tiny@cnn", build)
    with pytest.raises(ValueError, match="takes no option depth"):
        resolve_options(FRAMES, "tiny_cnn", depth=3)


def test_sb3_zips_record_the_encoder_options(tmp_path) -> None:
    from stable_baselines3.common.save_util import load_from_zip_file

    from mnv4_rl.encoders import OptionsRecord

    kwargs = encoder_policy_kwargs("nano", "ppo", augment="shift", features_dim=32)
    model = PPO("CnnPolicy", colour_vec_env("chw"), n_steps=16, batch_size=16, policy_kwargs=kwargs)
    model.save(tmp_path / "model")
    _, params, _ = load_from_zip_file(tmp_path / "model.zip")
    saved = params["policy"]["features_extractor.record.options"]
    record = OptionsRecord.saved(saved)
    assert record["encoder"] == "conv_small_050" and record["augment"] == "shift"
    assert record["frames"] == ["chw", 2, 3, 48, 48] and record["features_dim"] == 32
    assert PPO.load(tmp_path / "model.zip").policy.features_extractor.options.augment == "shift"
