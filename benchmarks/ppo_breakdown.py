"""Where a PPO run's time goes, per encoder: env stepping, acting (the policy's forward passes
during rollouts) and the update epochs.

SB3 PPO with rl-zoo's Atari settings (8 envs x 128 steps, 4 epochs of minibatch 256) on Pong; each
part is timed by wrapping ``VecEnv.step_wait``, ``policy.forward`` and ``PPO.train``. One warm-up
rollout, then ``--steps`` measured agent steps; encoders take turns for ``--repeats`` rounds and
the medians are printed as a markdown table:

    python benchmarks/ppo_breakdown.py --encoders nature nano nano_rl --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from stable_baselines3 import PPO

from mnv4_lab.atari import make_atari_envs
from mnv4_lab.bench.encoders import parse_encoder, policy_kwargs
from mnv4_lab.bench.measure import PPO_ZOO

PARTS = ("env", "acting", "update", "other", "total")


def timed(function: Callable, seconds: dict[str, float], part: str) -> Callable:
    """``function`` with its wall time added to ``seconds[part]`` at every call."""

    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a transparent wrapper
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[part] += time.perf_counter() - start
        return result

    return wrapper


def breakdown(encoder: str, steps: int, env_name: str) -> dict[str, float]:
    """Seconds spent in each part of ``steps`` PPO agent steps (after a one-rollout warm-up)."""
    env = make_atari_envs(env_name, n_envs=8, seed=0)
    model = PPO(
        "CnnPolicy",
        env,
        policy_kwargs=policy_kwargs(parse_encoder(encoder), "ppo"),
        seed=0,
        device="cpu",
        **PPO_ZOO,
    )
    seconds = dict.fromkeys(PARTS, 0.0)
    env.step_wait = timed(env.step_wait, seconds, "env")
    model.policy.forward = timed(model.policy.forward, seconds, "acting")
    model.train = timed(model.train, seconds, "update")
    model.learn(PPO_ZOO["n_steps"] * 8)  # warm-up: one rollout and one update
    seconds.update(dict.fromkeys(PARTS, 0.0))
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    seconds["total"] = time.perf_counter() - start
    seconds["other"] = seconds["total"] - seconds["env"] - seconds["acting"] - seconds["update"]
    env.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--encoders", nargs="+", default=["nature", "nano", "nano_rl"])
    parser.add_argument("--steps", type=int, default=2048, help="measured agent steps per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env", default="Pong")
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in args.encoders}
    for _ in range(args.repeats):
        for name in args.encoders:
            runs[name].append(breakdown(name, args.steps, args.env))
    print(
        f"PPO on {args.env}, {args.steps} agent steps, medians of {args.repeats} interleaved "
        f"runs, torch {torch.__version__}, {torch.get_num_threads()} threads; seconds (share)"
    )
    print("| encoder | " + " | ".join(PARTS) + " | steps/s |")
    print("|---|" + "---:|" * (len(PARTS) + 1))
    for name, samples in runs.items():
        median = {part: statistics.median(s[part] for s in samples) for part in PARTS}
        cells = [f"{median[p]:.2f} ({median[p] / median['total']:.0%})" for p in PARTS[:-1]]
        cells.append(f"{median['total']:.2f}")
        print(f"| {name} | " + " | ".join(cells) + f" | {args.steps / median['total']:.0f} |")


if __name__ == "__main__":
    main()
