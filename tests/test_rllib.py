"""The RLlib adapter on a real local Ray (2 CPUs): PPO with 0 and 1 remote env runners, APPO and
IMPALA, continuous actions, RLlib's own Atari frames, checkpoints restored in a fresh process,
pretrained weights, and the same clear errors as the SB3 extractor."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import ray
import torch
from helpers import PixelEnvForRLlib, timm_checkpoint
from ray.rllib.algorithms.appo import APPOConfig
from ray.rllib.algorithms.impala import IMPALAConfig
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.columns import Columns

from mnv4_lab.rllib_atari import RLlibAtari
from mnv4_rl.rllib import MobileNetV4RLModule, mnv4_module_spec
from mnv4_rl.sb3 import MobileNetV4Extractor
from mnv4_rl.weights import convert_timm_state_dict

# One xdist worker runs every test that starts a Ray (`make test` runs pytest -n auto).
pytestmark = pytest.mark.xdist_group("ray")
TESTS = str(Path(__file__).parent)
SMALL = {"features_dim": 32}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module; remote env runners import the test helpers."""
    path = os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()


def _ppo(env_config: dict, runners: int, encoder: str = "nano_rl", env=PixelEnvForRLlib):
    return (
        PPOConfig()
        .environment(env, env_config=env_config)
        .env_runners(num_env_runners=runners, num_envs_per_env_runner=1, rollout_fragment_length=32)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(rl_module_spec=mnv4_module_spec(encoder, **SMALL))
        .debugging(seed=0)
    )


def _greedy(module, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = module.forward_inference({Columns.OBS: torch.as_tensor(obs)})
    return out[Columns.ACTION_DIST_INPUTS].argmax(-1).numpy()


@pytest.mark.parametrize(
    ("runners", "env_config"),
    [(0, {"stack": 4, "grey": True}), (1, {"stack": 2})],  # 1-channel and 3-channel stacks
)
def test_ppo_trains_with_local_and_remote_env_runners(runners: int, env_config: dict) -> None:
    algo = _ppo(env_config, runners).build_algo()
    before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
    for _ in range(2):
        result = algo.train()
    assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 128
    module = algo.get_module()
    assert isinstance(module, MobileNetV4RLModule)
    channels = 1 if env_config.get("grey") else 3
    assert module.encoder.frames.frame_channels == channels
    assert module.encoder.frames.frames == env_config["stack"]
    moved = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("encoder.backbone.") for k in moved), "the encoder did not train"
    algo.stop()


RESTORE = textwrap.dedent(
    """
    import sys
    import numpy as np, ray, torch
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.core.columns import Columns

    checkpoint, obs_path, out_path = sys.argv[1:]
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    module = Algorithm.from_checkpoint(checkpoint).get_module()
    with torch.no_grad():
        logits = module.forward_inference({Columns.OBS: torch.as_tensor(np.load(obs_path))})
    logits = logits[Columns.ACTION_DIST_INPUTS].numpy()
    np.savez(out_path, actions=logits.argmax(-1), logits=logits)
    ray.shutdown()
    """
)


def test_checkpoint_restored_in_a_fresh_process_acts_the_same(tmp_path: Path) -> None:
    algo = _ppo({}, 0).build_algo()
    algo.train()
    checkpoint = tmp_path / "checkpoint"  # RLlib needs an absolute path
    algo.save_to_path(str(checkpoint.resolve()))
    obs = np.stack([algo.get_module().observation_space.sample() for _ in range(7)])
    np.save(tmp_path / "obs.npy", obs)
    expected = _greedy(algo.get_module(), obs)
    algo.stop()
    script = tmp_path / "restore.py"
    script.write_text(RESTORE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(script), str(checkpoint), str(tmp_path / "obs.npy"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npz")["actions"], expected)


def _trained_steps(result: dict) -> float:
    return result.get("learners", {}).get("default_policy", {}).get("num_module_steps_trained", 0)


@pytest.mark.parametrize("config_class", [APPOConfig, IMPALAConfig])
def test_appo_and_impala_train(config_class) -> None:
    config = (
        config_class()
        .environment(PixelEnvForRLlib, env_config={"stack": 2})
        # Sampling in this process: a remote env runner costs ~90 s to start on a busy 2-core
        # machine, and the PPO test below already covers remote runners.
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1, rollout_fragment_length=32)
        .learners(num_learners=0)  # the learner in this process (RLlib's default is one actor)
        .training(train_batch_size_per_learner=32)
        .reporting(min_time_s_per_iteration=0)
        .rl_module(rl_module_spec=mnv4_module_spec("nano_rl", **SMALL))
    )
    algo = config.build_algo()
    deadline, trained = time.time() + 120, 0
    while not trained and time.time() < deadline:
        trained = _trained_steps(algo.train())
    assert trained > 0, "no learner update within 120 s"
    if config_class is APPOConfig:  # the learner's module holds APPO's target networks
        module = algo.learner_group._learner.module["default_policy"]
        kinds = [(type(a).__name__, type(b).__name__) for a, b in module.get_target_network_pairs()]
        assert kinds == [("FrameEncoder", "FrameEncoder"), ("Linear", "Linear")]
    algo.stop()


def test_continuous_actions_and_impala_cnn_on_rllib_atari_frames() -> None:
    """PPO with Box actions; and RLlib's Atari frames (float [-1, 1], HWC) into IMPALA-CNN."""
    algo = _ppo({"continuous": True}, 0).build_algo()
    algo.train()
    module = algo.get_module()
    assert module.pi.out_features == 2  # mean and log std of the one action
    algo.stop()

    env = RLlibAtari({"game": "Pong"})
    assert env.observation_space.shape == (64, 64, 4)
    assert env.observation_space.dtype == np.float32 and env.observation_space.low.min() == -1.0
    module = mnv4_module_spec(
        "impala", observation_space=env.observation_space, action_space=env.action_space
    ).build()
    assert module.encoder.preprocess.value_range.offset == 0.5  # [-1, 1] mapped to [0, 1]
    obs, _ = env.reset(seed=0)
    x = module.encoder.preprocess(torch.as_tensor(obs)[None])
    assert x.shape == (1, 4, 64, 64) and 0.0 <= x.min() and x.max() <= 1.0
    assert _greedy(module, np.asarray(obs)[None]).shape == (1,)
    env.close()


@pytest.mark.filterwarnings("ignore:MobileNetV4Extractor")
def test_pretrained_weights_survive_module_construction(tmp_path: Path) -> None:
    timm_model, path = timm_checkpoint(tmp_path)
    space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    spec = mnv4_module_spec(
        "nano", pretrained=str(path), observation_space=space, action_space=gym.spaces.Discrete(3)
    )
    module = spec.build()
    expected = convert_timm_state_dict(timm_model.state_dict())
    got = module.encoder.backbone.state_dict()
    for key, value in got.items():
        if key in expected and not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)
    assert module.encoder.options.norm == "frozen" and module.encoder.options.input_norm
    # The same encoder the SB3 extractor builds from the same space and checkpoint.
    sb3 = MobileNetV4Extractor(space, "nano", 512, pretrained=path)
    frame = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        sb3_in = sb3.preprocess(frame.float() / 255.0)  # SB3 divided 3-D uint8 already
        torch.testing.assert_close(module.encoder.preprocess(frame), sb3_in)


SPACES = [
    (gym.spaces.Box(0, 255, (4, 16, 16), np.uint8), ValueError, "at least 32"),
    (gym.spaces.Box(0, 255, (4, 64, 64, 4), np.uint8), ValueError, "in_channels=16"),
    (gym.spaces.Box(-1.0, 1.0, (8,), np.float32), ValueError, "is not an image"),
    (gym.spaces.Discrete(3), TypeError, "needs a gymnasium.spaces.Box"),
]


@pytest.mark.parametrize(("space", "error", "match"), SPACES)
def test_bad_spaces_get_the_sb3_extractors_error(space, error, match) -> None:
    with pytest.raises(error, match=match) as rllib_error:
        mnv4_module_spec(observation_space=space, action_space=gym.spaces.Discrete(2))
    if isinstance(space, gym.spaces.Box):
        with pytest.raises(error) as sb3_error:
            MobileNetV4Extractor(space)
        assert str(rllib_error.value) == str(sb3_error.value)


def test_unknown_options_and_action_spaces_are_named() -> None:
    with pytest.raises(ValueError, match="unknown options \\['featurs_dim'\\]; known: encoder"):
        mnv4_module_spec("nano", featurs_dim=32)
    box = gym.spaces.Box(0, 255, (48, 48, 3), np.uint8)
    with pytest.raises(ValueError, match="Discrete actions or a 1-D Box"):
        mnv4_module_spec(observation_space=box, action_space=gym.spaces.MultiDiscrete([2, 2]))
