"""rl-zoo3 runs the ``mnv4_rl.zoo`` configs as they are: ``train`` and ``enjoy`` in fresh processes
at tiny budgets, for every encoder; the configs hold rl-zoo's own Atari settings."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rl_zoo3
import yaml
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.torch_layers import NatureCNN

from mnv4_rl.sb3 import EncoderExtractor
from mnv4_rl.zoo import ALGOS, ATARI, ENCODERS

# The study's encoders train in CI; every other config is checked for its settings only.
TRAINED = ("nature", "impala", "nano", "nano_rl", "small", "medium")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
TINY = {
    "ppo": ["n_envs:2", "n_steps:32", "batch_size:64", "n_epochs:1"],
    "a2c": ["n_envs:2", "n_steps:8"],
    "dqn": ["buffer_size:500", "learning_starts:64", "train_freq:4"],
    "qrdqn": ["buffer_size:500", "learning_starts:64", "train_freq:4"],
}


def zoo(command: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", f"rl_zoo3.{command}", *args, "--device", "cpu"],
        capture_output=True, text=True, env=ENV, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_config_holds_rl_zoos_atari_settings(algo: str, encoder: str) -> None:
    zoo_yaml = Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml"
    expected = yaml.safe_load(zoo_yaml.read_text())["atari"]
    config = importlib.import_module(f"mnv4_rl.zoo.{algo}_{encoder}").hyperparams["atari"]
    policy_kwargs = config.pop("policy_kwargs", {})
    expected.pop("policy_kwargs", None)  # a2c: the zoo's string, checked as objects below
    assert config == expected
    assert ATARI[algo]["policy"] == "CnnPolicy"
    extractor = NatureCNN if encoder == "nature" else EncoderExtractor
    assert policy_kwargs.get("features_extractor_class", NatureCNN) is extractor
    if algo == "a2c":
        assert policy_kwargs["optimizer_class"] is RMSpropTFLike
        assert policy_kwargs["optimizer_kwargs"] == {"eps": 1e-5}


@pytest.mark.parametrize("encoder", TRAINED)
def test_rl_zoo_trains_ppo_with_the_study_encoders(encoder: str, tmp_path: Path) -> None:
    zoo(
        "train", "--algo", "ppo", "--env", "BreakoutNoFrameskip-v4",
        "-conf", f"mnv4_rl.zoo.ppo_{encoder}", "-n", "128", "--eval-freq", "-1",
        "-f", str(tmp_path), "--seed", "0", "-params", *TINY["ppo"],
    )  # fmt: skip
    run = tmp_path / "ppo" / "BreakoutNoFrameskip-v4_1"
    assert (run / "BreakoutNoFrameskip-v4.zip").is_file()
    saved = (run / "BreakoutNoFrameskip-v4" / "config.yml").read_text()
    if encoder != "nature":
        assert "mnv4_rl.sb3.extractors" in saved


@pytest.mark.parametrize("algo", ["a2c", "dqn", "qrdqn"])
def test_rl_zoo_trains_the_other_algorithms_and_enjoy_replays(algo: str, tmp_path: Path) -> None:
    zoo(
        "train", "--algo", algo, "--env", "PongNoFrameskip-v4", "-conf", f"mnv4_rl.zoo.{algo}_nano_rl",
        "-n", "128", "--eval-freq", "-1", "-f", str(tmp_path), "--seed", "0", "-params", *TINY[algo],
    )  # fmt: skip
    done = zoo(
        "enjoy", "--algo", algo, "--env", "PongNoFrameskip-v4", "-f", str(tmp_path),
        "-n", "200", "--no-render", "--deterministic",
    )  # fmt: skip
    assert "Stacking 4 frames" in done.stdout
