"""End-to-end agent steps per second: a frozen pretrained encoder (``VecFrozenEncoder``) with an
MLP head against NatureCNN's ``CnnPolicy``, PPO and DQN, rl-zoo's Atari settings, on Breakout.

- PPO: rl-zoo's ``atari`` block (AtariWrapper, 8 envs, n_steps 128, 4 epochs of minibatch 256,
  lr lin 2.5e-4, clip lin 0.1, vf 0.5, ent 0.01). NatureCNN: ``VecFrameStack(4)`` and
  ``CnnPolicy``. Frozen: ``VecFrozenEncoder(encoder, n_stack=4)`` directly on the 84x84 grey
  frames and ``MlpPolicy`` with one shared 512 layer (``frozen_policy_kwargs``: NatureCNN's
  head shape, so only the encoder differs).
- DQN: rl-zoo's ``atari`` block (1 env, batch 32, train_freq 4, target update 1000, lr 1e-4),
  with ``learning_starts`` cut to ``--dqn-warmup`` so that the measured steps train; buffer
  ``--dqn-buffer`` transitions.
- Encoder alone: one batch of 8 grey frames through the frozen nano, BatchNorm fused once
  (the wrapper's path) against the trainable encoders' fold-at-every-call path, channels-last
  and not.

Both agents take turns in one process (A, B, A, B...: ``--rounds`` rounds of ``--chunks``
rollouts each after one warm-up chunk); medians are reported. Random weights (no download here;
speed does not depend on the values). Writes ``--out`` .json and .md::

    OMP_NUM_THREADS=1 python benchmarks/frozen_ppo.py --threads 1 --out docs/results/cpu-2core/frozen
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import ale_py
import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack

from mnv4_rl.frozen import FrozenFrameEncoder
from mnv4_rl.models import create_model
from mnv4_rl.sb3 import VecFrozenEncoder, frozen_policy_kwargs

PPO_ZOO = dict(n_steps=128, batch_size=256, n_epochs=4, vf_coef=0.5, ent_coef=0.01)
DQN_ZOO = dict(
    learning_rate=1e-4,
    batch_size=32,
    target_update_interval=1000,
    train_freq=4,
    gradient_steps=1,
    exploration_fraction=0.1,
    exploration_final_eps=0.01,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="BreakoutNoFrameskip-v4")
    p.add_argument("--encoder", default="nano")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--chunks", type=int, default=2, help="PPO rollouts (1024 steps) per turn")
    p.add_argument("--dqn-steps", type=int, default=1000, help="DQN agent steps per turn")
    p.add_argument("--dqn-warmup", type=int, default=1000)
    p.add_argument("--dqn-buffer", type=int, default=10_000)
    p.add_argument("--skip", nargs="*", default=[], choices=["ppo", "dqn", "encoder"])
    p.add_argument("--out", type=Path, default=None, help="path stem for .json and .md")
    return p.parse_args(argv)


def _envs(args: argparse.Namespace, frozen: bool, n_envs: int):
    venv = make_atari_env(args.env, n_envs=n_envs, seed=0)
    if frozen:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # random weights: the speed is the same
            return VecFrozenEncoder(venv, args.encoder, pretrained=None, n_stack=4)
    return VecFrameStack(venv, n_stack=4)


def build_ppo(args: argparse.Namespace, frozen: bool) -> PPO:
    lr, clip = 2.5e-4, 0.1
    return PPO(
        "MlpPolicy" if frozen else "CnnPolicy",
        _envs(args, frozen, 8),
        learning_rate=lambda remaining: remaining * lr,
        clip_range=lambda remaining: remaining * clip,
        policy_kwargs=frozen_policy_kwargs("ppo") if frozen else None,
        device="cpu",
        seed=0,
        **PPO_ZOO,
    )


def build_dqn(args: argparse.Namespace, frozen: bool) -> DQN:
    return DQN(
        "MlpPolicy" if frozen else "CnnPolicy",
        _envs(args, frozen, 1),
        buffer_size=args.dqn_buffer,
        learning_starts=args.dqn_warmup,
        policy_kwargs=frozen_policy_kwargs("dqn") if frozen else None,
        device="cpu",
        seed=0,
        **DQN_ZOO,
    )


def interleaved(models: dict[str, object], steps: int, rounds: int, warmup: int) -> dict:
    """Agent steps/s of each model, taking turns; the first turn of each is a warm-up."""
    for model in models.values():
        model.learn(warmup, reset_num_timesteps=True)
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.learn(steps, reset_num_timesteps=False)
            rates[name].append(steps / (time.perf_counter() - start))
    return {
        name: {"median": statistics.median(r), "all": [round(x, 1) for x in r]}
        for name, r in rates.items()
    }


def encoder_alone(args: argparse.Namespace, repeats: int = 30) -> dict:
    """ms per batch of 8 grey 84x84 frames: fused-once (channels-last or not) vs fold-per-call."""
    space = gym.spaces.Box(0, 255, (84, 84, 1), np.uint8)
    frames = np.random.default_rng(0).integers(0, 256, (8, 84, 84, 1), dtype=np.uint8)
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cl in (True, False):
            enc = FrozenFrameEncoder(space, args.encoder, pretrained=None, channels_last=cl)
            paths[f"fused once, channels_last={cl}"] = enc.encode
        # The trainable encoders' eval path: frozen BatchNorm, folded at every call.
        net = create_model(args.encoder, in_channels=1, num_classes=0, norm="frozen").eval()
        x = torch.from_numpy(frames).permute(0, 3, 1, 2)

        def per_call() -> np.ndarray:
            with torch.inference_mode():
                return net((x.float() / 255 - 0.5) / 0.5).numpy()

        paths["folded at every call (trainable path), channels_last=True"] = lambda _: per_call()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for fn in paths.values():
        for _ in range(3):
            fn(frames)
    for _ in range(repeats):  # interleaved
        for name, fn in paths.items():
            start = time.perf_counter()
            fn(frames)
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    gym.register_envs(ale_py)
    torch.set_num_threads(args.threads)
    result: dict = {
        "machine": platform.processor() or platform.machine(),
        "threads": args.threads,
        "torch": torch.__version__,
        "env": args.env,
        "encoder": args.encoder,
        "rounds": args.rounds,
    }
    if "encoder" not in args.skip:
        result["encoder_ms_per_8_frames"] = encoder_alone(args)
        print(json.dumps(result["encoder_ms_per_8_frames"], indent=1), flush=True)
    if "ppo" not in args.skip:
        steps = args.chunks * 1024
        models = {"nature": build_ppo(args, False), "frozen": build_ppo(args, True)}
        ppo = interleaved(models, steps, args.rounds, 1024)
        ppo["ratio"] = ppo["frozen"]["median"] / ppo["nature"]["median"]
        ppo["steps_per_turn"] = steps
        result["ppo"] = ppo
        print("ppo", json.dumps(ppo), flush=True)
        del models
    if "dqn" not in args.skip:
        models = {"nature": build_dqn(args, False), "frozen": build_dqn(args, True)}
        dqn = interleaved(models, args.dqn_steps, args.rounds, args.dqn_warmup + 200)
        dqn["ratio"] = dqn["frozen"]["median"] / dqn["nature"]["median"]
        dqn["steps_per_turn"] = args.dqn_steps
        result["dqn"] = dqn
        print("dqn", json.dumps(dqn), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(to_markdown(result))
    return result


def to_markdown(result: dict) -> str:
    lines = [
        f"Frozen `{result['encoder']}` (VecFrozenEncoder, n_stack 4, MLP head 512) against "
        f"NatureCNN CnnPolicy on {result['env']}; {result['threads']} torch thread(s), torch "
        f"{result['torch']}; medians of {result['rounds']} interleaved turns.",
        "",
        "| algorithm | NatureCNN steps/s | frozen steps/s | ratio |",
        "|---|---:|---:|---:|",
    ]
    for algo in ("ppo", "dqn"):
        if algo in result:
            r = result[algo]
            lines.append(
                f"| {algo.upper()} | {r['nature']['median']:.0f} | {r['frozen']['median']:.0f} | "
                f"{r['ratio']:.2f}x |"
            )
    if "encoder_ms_per_8_frames" in result:
        lines += ["", "| encoder path (8 grey 84x84 frames) | ms |", "|---|---:|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in result["encoder_ms_per_8_frames"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
