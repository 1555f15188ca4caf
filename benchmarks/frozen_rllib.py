"""FrozenEncoderObservation under RLlib: one frozen encoder per env runner, and what it costs.

1. Per env step, in one process, interleaved: Breakout's 84x84 grey frames (gymnasium's
   ``AtariPreprocessing``, frame skip 4) stepped raw, and stepped through
   ``FrozenEncoderObservation(env, saved_encoder, n_stack=4)``; the difference is the encoder's
   cost per env step (one frame, batch 1, one torch thread).
2. RLlib PPO (new API stack) trained for ``--iters`` iterations with ``--runners`` remote env
   runners, one env each, every runner wrapping its env with the same saved encoder file (read
   once per runner; the pretrained checkpoint is not needed there). RLlib's default MLP module
   learns on the 5120-d features. Reports env steps per second of the whole run.

The encoder has random weights here (nothing can be downloaded; speed does not depend on them).
Writes ``--out`` .json and .md::

    python benchmarks/frozen_rllib.py --out docs/results/cpu-2core/frozen_rllib
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import ale_py
import gymnasium as gym
import numpy as np
import torch

from mnv4_rl.frozen import FrozenFrameEncoder
from mnv4_rl.wrappers import FrozenEncoderObservation


def atari_frames(config: dict | None = None) -> gym.Env:
    """Breakout as 84x84 grey frames (no stack): what the frozen encoder reads."""
    gym.register_envs(ale_py)
    env = gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.0)
    return gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)


def frozen_atari(config: dict) -> gym.Env:
    """The env each RLlib env runner builds: frames -> saved frozen encoder -> 4 stacked vectors."""
    torch.set_num_threads(1)
    return FrozenEncoderObservation(atari_frames(), config["encoder"], n_stack=4)


def step_cost(encoder_file: str, steps: int, rounds: int) -> dict:
    """ms per env step, raw frames against the wrapped env, taking turns."""
    envs = {"raw frames": atari_frames(), "FrozenEncoderObservation": frozen_atari(
        {"encoder": encoder_file}
    )}  # fmt: skip
    for env in envs.values():
        env.reset(seed=0)
    times: dict[str, list[float]] = {name: [] for name in envs}
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        for name, env in envs.items():
            start = time.perf_counter()
            for _ in range(steps):
                _, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
                if terminated or truncated:
                    env.reset()
            times[name].append(1e3 * (time.perf_counter() - start) / steps)
    result = {name: round(statistics.median(t), 3) for name, t in times.items()}
    result["encoder ms per step"] = round(
        result["FrozenEncoderObservation"] - result["raw frames"], 3
    )
    return result


def rllib_ppo(encoder_file: str, runners: int, iters: int) -> dict:
    """Env steps/s of a short RLlib PPO run on the wrapped env."""
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    ray.init(num_cpus=runners + 1, include_dashboard=False, log_to_driver=False)
    try:
        register_env("frozen_breakout", frozen_atari)
        algo = (
            PPOConfig()
            .environment("frozen_breakout", env_config={"encoder": encoder_file})
            .env_runners(
                num_env_runners=runners, num_envs_per_env_runner=1, rollout_fragment_length=128
            )
            .training(train_batch_size_per_learner=128 * runners, minibatch_size=64, num_epochs=1)
            .debugging(seed=0)
            .build_algo()
        )
        algo.train()  # warm-up: runners built, first forward passes
        start = time.perf_counter()
        steps = 0
        for _ in range(iters):
            result = algo.train()
            steps += result["env_runners"]["num_env_steps_sampled"]
        seconds = time.perf_counter() - start
        obs_space = str(algo.env_runner_group.foreach_env_runner(
            lambda runner: runner.env.single_observation_space, local_env_runner=False
        )[0])  # fmt: skip
        algo.stop()
    finally:
        ray.shutdown()
    return {
        "runners": runners,
        "iterations": iters,
        "env_steps": int(steps),
        "env_steps_per_s": round(steps / seconds, 1),
        "observation_space": obs_space,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--encoder", default="nano")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runners", type=int, default=2)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        encoder_file = str(Path(folder) / "frozen_nano.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # random weights
            space = atari_frames().observation_space
            FrozenFrameEncoder(space, args.encoder, pretrained=None).save(encoder_file)
        result = {"step_cost_ms": step_cost(encoder_file, args.steps, args.rounds)}
        print(json.dumps(result), flush=True)
        result["rllib_ppo"] = rllib_ppo(encoder_file, args.runners, args.iters)
        print(json.dumps(result["rllib_ppo"]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        cost, ppo = result["step_cost_ms"], result["rllib_ppo"]
        lines = [
            f"FrozenEncoderObservation({args.encoder}, n_stack=4) on Breakout 84x84 grey frames, "
            "1 torch thread per process.",
            "",
            "| per env step | ms |",
            "|---|---:|",
            *(f"| {k} | {v:.2f} |" for k, v in cost.items()),
            "",
            f"RLlib PPO, {ppo['runners']} remote env runners (one env and one encoder each), "
            f"RLlib's default MLP module on {ppo['observation_space']}: "
            f"{ppo['env_steps_per_s']:.0f} env steps/s over {ppo['iterations']} iterations "
            f"({ppo['env_steps']} steps).",
        ]
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
