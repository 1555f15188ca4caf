"""What the random shift (DrQ, ``augment="shift"``) adds to a PPO training step with NatureCNN.

SB3 PPO with rl-zoo's Atari settings for a step (minibatch 256 of 84x84x4 ``uint8`` Pong frames,
lr 2.5e-4, clip 0.1, ent 0.01, vf 0.5) and SB3's NatureCNN with the shift in front
(:class:`mnv4_rl.sb3.augmented.AugmentedNatureCNN`). A rollout of 8 envs x 32 steps fills the
buffer with exactly one minibatch, so each ``PPO.train()`` call (one epoch) is one real SB3
minibatch step: forward, losses, backward, gradient clipping, Adam. Calls with the shift and
without it (the same model, the shift module swapped for ``nn.Identity``) alternate, A B B A, for
``--pairs`` pairs, so both see the same machine load. Each call is timed by the wall clock and by
the process's CPU time (less sensitive to other processes on a shared machine); printed as a
markdown table: the medians, their ratio, and the median of the per-pair ratios. The shift op
alone on a ``(256, 4, 84, 84)`` float batch is timed too::

    OMP_NUM_THREADS=1 python benchmarks/augment_overhead.py --pairs 40 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack
from torch import nn

from mnv4_rl.augment import random_shift
from mnv4_rl.sb3.augmented import AugmentedNatureCNN
from mnv4_rl.zoo import ATARI, schedule_start

N_ENVS = 8


ROLLOUT_STEPS = 32  # 8 envs x 32 steps = one minibatch of 256


def zoo_ppo() -> dict:
    """rl-zoo's Atari PPO settings for one minibatch step (schedules at their start)."""
    zoo = ATARI["ppo"]
    assert zoo["batch_size"] == N_ENVS * ROLLOUT_STEPS
    return {
        "n_steps": ROLLOUT_STEPS,
        "batch_size": zoo["batch_size"],
        "n_epochs": 1,
        "ent_coef": zoo["ent_coef"],
        "vf_coef": zoo["vf_coef"],
        "learning_rate": schedule_start(zoo["learning_rate"]),
        "clip_range": schedule_start(zoo["clip_range"]),
    }


def build(env_name: str, pad: int) -> tuple[PPO, nn.Module]:
    """The model with a rollout buffer of one minibatch, and its shift module."""
    import ale_py

    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env(env_name, n_envs=N_ENVS, seed=0), 4)
    settings = zoo_ppo()
    model = PPO(
        "CnnPolicy",
        env,
        policy_kwargs={
            "features_extractor_class": AugmentedNatureCNN,
            "features_extractor_kwargs": {"augment": "shift", "pad": pad},
        },
        seed=0,
        device="cpu",
        **settings,
    )
    # One rollout and one update: the buffer stays full for the timed train() calls.
    model.learn(settings["n_steps"] * N_ENVS)
    return model, model.policy.features_extractor.augment


def step_ms(model: PPO) -> tuple[float, float]:
    """One ``PPO.train()`` call (one minibatch step): wall and process CPU milliseconds.

    CPU time counts only this process's work, so it is less sensitive to other processes taking
    the cores (it still includes their effect on caches and memory bandwidth)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.train()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--pairs", type=int, default=40, help="pairs of (shift, no shift) steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--pad", type=int, default=4)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    model, shift = build(args.env, args.pad)
    extractor = model.policy.features_extractor
    base_module = nn.Identity()
    for _ in range(3):  # warm-up: allocator, first backward
        step_ms(model)
    base: list[tuple[float, float]] = []
    shifted: list[tuple[float, float]] = []
    for pair in range(args.pairs):
        # A B B A: neither variant always runs first; both see the same load.
        order = [(base_module, base), (shift, shifted)]
        for module, times in order if pair % 2 == 0 else order[::-1]:
            extractor.augment = module
            times.append(step_ms(model))
    extractor.augment = shift

    batch = torch.randint(0, 256, (zoo_ppo()["batch_size"], 4, 84, 84), dtype=torch.uint8)
    batch = batch.float() / 255
    op = []
    for _ in range(args.pairs):
        start = time.process_time()
        random_shift(batch, args.pad)
        op.append((time.process_time() - start) * 1000)

    print(
        f"PPO minibatch step (SB3 PPO.train(), batch {zoo_ppo()['batch_size']}, 84x84x4 uint8, "
        f"pad {args.pad}), {args.threads} torch thread(s), {args.pairs} interleaved pairs, "
        f"medians; torch {torch.__version__}\n"
    )
    print(
        "| clock | NatureCNN ms | NatureCNN + shift ms | ratio of medians | median per-pair ratio |"
    )
    print("|---|---|---|---|---|")
    result: dict[str, float] = {}
    for index, clock in enumerate(("wall", "CPU")):
        b = [t[index] for t in base]
        s = [t[index] for t in shifted]
        b_ms, s_ms = statistics.median(b), statistics.median(s)
        paired = statistics.median(y / x for y, x in zip(s, b, strict=True))
        print(f"| {clock} | {b_ms:.1f} | {s_ms:.1f} | {s_ms / b_ms:.3f} | {paired:.3f} |")
        result.update(
            {f"{clock}_base_ms": b_ms, f"{clock}_ratio": s_ms / b_ms, f"{clock}_paired": paired}
        )
    op_ms = statistics.median(op)
    cpu_base = result["CPU_base_ms"]
    print(
        f"\nthe shift op alone on the (256, 4, 84, 84) float batch: {op_ms:.2f} ms CPU (median), "
        f"{op_ms / cpu_base:.1%} of the unshifted step's CPU time"
    )
    result["op_ms"] = op_ms
    return result


if __name__ == "__main__":
    main()
