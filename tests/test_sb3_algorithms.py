"""MobileNetV4 extractors inside real SB3 / sb3-contrib algorithms, on ale-py Atari and a small RGB env.

Budgets are tiny (a few hundred steps): these tests check that everything runs and trains, not
that the agent learns.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ale_py
import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import ColourEnv, colour_vec_env, policy_scores, timm_checkpoint
from sb3_contrib import QRDQN
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

from mnv4_rl.sb3 import (
    MNv4NanoExtractor,
    MobileNetV4CombinedExtractor,
    MobileNetV4Extractor,
    mnv4_policy_kwargs,
)
from mnv4_rl.weights import convert_timm_state_dict

gym.register_envs(ale_py)


def atari_env(n_envs: int = 2):
    return VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=n_envs, seed=0), n_stack=4)


SHORT = {
    PPO: dict(n_steps=64, batch_size=64, n_epochs=1),
    A2C: dict(n_steps=8),
    DQN: dict(learning_starts=64, buffer_size=1000, batch_size=32, train_freq=4),
    QRDQN: dict(learning_starts=64, buffer_size=1000, batch_size=32, train_freq=4),
    SAC: dict(learning_starts=32, buffer_size=500, batch_size=16, train_freq=8),
}
ALGO_NAME = {PPO: "ppo", A2C: "a2c", DQN: "dqn", QRDQN: "qrdqn", SAC: "sac"}


def _extractor(model) -> MobileNetV4Extractor:
    """The (online) encoder: DQN-like policies keep it in q_net, SAC in its actor."""
    if isinstance(model, DQN):
        return model.q_net.features_extractor
    if isinstance(model, QRDQN):
        return model.quantile_net.features_extractor
    if isinstance(model, SAC):
        return model.policy.actor.features_extractor
    return model.policy.features_extractor


def _backbone_copy(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in _extractor(model).backbone.state_dict().items()}


def _changed(before: dict, model) -> bool:
    after = _extractor(model).backbone.state_dict()
    return any(
        not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point()
    )


@pytest.mark.parametrize("algo", [PPO, A2C, DQN])
def test_learns_a_few_hundred_steps_on_atari(algo) -> None:
    env = atari_env()
    assert env.observation_space.shape == (84, 84, 4)  # channel-last: SB3 transposes it
    model = algo(
        "CnnPolicy",
        env,
        policy_kwargs=mnv4_policy_kwargs("nano", ALGO_NAME[algo]),
        seed=0,
        **SHORT[algo],
    )
    assert isinstance(_extractor(model), MobileNetV4Extractor)
    assert model.policy.observation_space.shape == (4, 84, 84)
    before = _backbone_copy(model)
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    assert _changed(before, model), "the encoder did not train"
    env.close()


@pytest.mark.parametrize(
    ("algo", "layout", "env_kwargs", "extra"),
    [
        (PPO, "khwc", {}, {}),
        (A2C, "hwc", {"as_float": True}, {"normalized_image": True}),  # float: SB3 won't transpose
        (DQN, "hwc", {}, {"norm": "batch"}),  # uint8 channel-last: SB3 transposes
        (QRDQN, "chw", {}, {}),
        (SAC, "hwc", {"continuous": True}, {}),
    ],
)
def test_learns_on_synthetic_rgb_frames(algo, layout, env_kwargs, extra) -> None:
    env = colour_vec_env(layout, **env_kwargs)
    kwargs = mnv4_policy_kwargs("nano", ALGO_NAME[algo], features_dim=64, **extra)
    model = algo("CnnPolicy", env, policy_kwargs=kwargs, seed=0, **SHORT[algo])
    extractor = _extractor(model)
    assert extractor.frames.frames == 2 and extractor.frames.frame_channels == 3
    if "norm" in extra:
        assert extractor.norm == extra["norm"]
    model.learn(total_timesteps=128 if algo is SAC else 256)
    assert model.num_timesteps >= 128


def test_multi_input_policy_with_dict_observations() -> None:
    env = DummyVecEnv([lambda: ColourEnv(dict_obs=True)] * 2)
    kwargs = mnv4_policy_kwargs("nano", "ppo", features_dim=32, dict_observations=True)
    model = PPO("MultiInputPolicy", env, policy_kwargs=kwargs, seed=0, **SHORT[PPO])
    assert isinstance(model.policy.features_extractor, MobileNetV4CombinedExtractor)
    assert model.policy.features_extractor.features_dim == 32 + 2
    model.learn(total_timesteps=128)


def test_named_extractor_class_with_no_argument() -> None:
    env = colour_vec_env("chw")
    model = PPO(
        "CnnPolicy",
        env,
        policy_kwargs=dict(features_extractor_class=MNv4NanoExtractor, net_arch=[]),
        **SHORT[PPO],
    )
    assert model.policy.features_extractor.features_dim == 512
    model.learn(total_timesteps=128)


@pytest.mark.parametrize("algo", [PPO, DQN])
def test_pretrained_weights_survive_policy_construction(algo, tmp_path) -> None:
    """SB3 re-initialises extractors orthogonally (#1541); the backbone must keep the checkpoint."""
    timm_model, path = timm_checkpoint(tmp_path)
    env = colour_vec_env("chw")  # 2 RGB frames: 6 channels
    with pytest.warns(UserWarning, match="frame rule: 2 RGB frame"):
        model = algo(
            "CnnPolicy",
            env,
            policy_kwargs=mnv4_policy_kwargs("nano", ALGO_NAME[algo], pretrained=path),
            **SHORT[algo],
        )
    expected = convert_timm_state_dict(timm_model.state_dict())
    stem = expected["stem.conv.weight"]
    expected["stem.conv.weight"] = stem.repeat(1, 2, 1, 1) / 2
    if algo is PPO:
        assert model.policy.ortho_init  # SB3's default stays on: only the projection gets it
        extractors = [model.policy.features_extractor]
    else:
        extractors = [model.q_net.features_extractor, model.q_net_target.features_extractor]
    for extractor in extractors:
        assert extractor.norm == "frozen"
        for key, value in extractor.backbone.state_dict().items():
            if key.endswith("num_batches_tracked"):
                continue
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


LOAD_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from stable_baselines3 import DQN, PPO
    from mnv4_rl.sb3 import load_model

    algo_name, path, obs_path, out_path, loader, tests = sys.argv[1:]
    sys.path.insert(0, tests)
    from helpers import policy_scores

    algo = {"PPO": PPO, "DQN": DQN}[algo_name]
    if loader == "load_model":
        model = load_model(algo, path, device="cpu")
    else:
        model = algo.load(path, device="cpu")
    actions, scores = policy_scores(model, np.load(obs_path))
    policy = model.q_net if algo_name == "DQN" else model.policy
    np.savez(out_path, actions=actions, scores=scores,
             cls=type(policy.features_extractor).__module__)
    """
)


@pytest.mark.parametrize(
    ("algo", "layout", "extra", "loader"),
    [
        (PPO, "chw", {}, "load"),
        (DQN, "hwc", {"norm": "batch"}, "load"),
        # the pretrained checkpoint is deleted before loading: load_model does not need it
        (PPO, "khwc", {"pretrained": True}, "load_model"),
    ],
)
def test_save_and_load_in_a_fresh_process(algo, layout, extra, loader, tmp_path) -> None:
    env = colour_vec_env(layout)
    checkpoint = None
    if extra.get("pretrained"):
        checkpoint = timm_checkpoint(tmp_path)[1]
        extra = {"pretrained": checkpoint}
    with pytest.warns(UserWarning) if checkpoint else contextlib.nullcontext():
        model = algo(
            "CnnPolicy",
            env,
            policy_kwargs=mnv4_policy_kwargs("nano", ALGO_NAME[algo], features_dim=64, **extra),
            seed=0,
            **SHORT[algo],
        )
    model.learn(total_timesteps=128)
    model.save(tmp_path / "model")
    if checkpoint:
        checkpoint.unlink()

    obs = np.stack([env.observation_space.sample() for _ in range(6)])
    np.save(tmp_path / "obs.npy", obs)
    actions, scores = policy_scores(model, obs)
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    out = tmp_path / "loaded.npz"
    args = [tmp_path / "model.zip", tmp_path / "obs.npy", out, loader, Path(__file__).parent]
    subprocess.run(
        [sys.executable, str(script), algo.__name__, *map(str, args)],
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    loaded = np.load(out)
    assert str(loaded["cls"]) == "mnv4_rl.sb3.extractors"
    np.testing.assert_array_equal(loaded["actions"], actions)
    np.testing.assert_allclose(loaded["scores"], scores, rtol=1e-5, atol=1e-5)


def test_plain_load_needs_the_pretrained_checkpoint(tmp_path) -> None:
    """Why load_model exists: SB3 rebuilds the extractor, which reads the checkpoint again."""
    checkpoint = timm_checkpoint(tmp_path)[1]
    with pytest.warns(UserWarning):
        model = PPO(
            "CnnPolicy",
            colour_vec_env("chw"),
            policy_kwargs=mnv4_policy_kwargs("nano", pretrained=checkpoint, features_dim=64),
            **SHORT[PPO],
        )
    model.save(tmp_path / "model")
    checkpoint.unlink()
    with pytest.raises(FileNotFoundError, match="conv_small_050.pth.*mnv4_rl.sb3.load_model"):
        PPO.load(tmp_path / "model.zip")


def test_policy_kwargs_per_algo() -> None:
    assert mnv4_policy_kwargs(algo="ppo")["net_arch"] == []
    assert mnv4_policy_kwargs(algo="QR-DQN")["net_arch"] == []
    assert mnv4_policy_kwargs(algo="sac")["net_arch"] == [256, 256]
    kwargs = mnv4_policy_kwargs("small", "dqn", features_dim=256, norm="batch", net_arch=[64])
    assert kwargs["features_extractor_class"] is MobileNetV4Extractor
    assert kwargs["features_extractor_kwargs"] == {
        "encoder": "small",
        "pretrained": None,
        "features_dim": 256,
        "norm": "batch",
    }
    assert kwargs["net_arch"] == [64]
    with pytest.raises(ValueError, match="unknown algo 'td3'; known: ppo, a2c, dqn, qrdqn, sac"):
        mnv4_policy_kwargs(algo="td3")
