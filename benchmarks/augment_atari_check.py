"""Does PPO with the random shift still learn a real Atari game? A short, one-seed check.

SB3 PPO with rl-zoo's Atari settings (8 envs x 128 steps, 4 epochs of minibatch 256, lr 2.5e-4
and clip 0.1 decayed linearly, ent 0.01, vf 0.5) and SB3's NatureCNN with DrQ's shift in front
(:class:`mnv4_rl.sb3.augmented.AugmentedNatureCNN`, pad 4), on ``--env`` for ``--timesteps``
agent steps. Prints the full-game scores (SB3's ``Monitor`` under the Atari wrapper) of the first
and the last ``--window`` games of training, and of ``--eval-episodes`` games played afterwards
with the trained policy (stochastic actions, as rl-zoo evaluates PPO). With ``--no-augment`` the
same run without the shift::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/augment_atari_check.py \\
        --env BreakoutNoFrameskip-v4 --timesteps 100000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecFrameStack

from mnv4_rl.sb3.augmented import AugmentedNatureCNN
from mnv4_rl.zoo import ATARI, schedule_start


class Games(BaseCallback):
    """Every full game's score during training, in order (the Monitor's ``episode`` infos)."""

    def __init__(self) -> None:
        super().__init__()
        self.scores: list[float] = []

    def _on_step(self) -> bool:
        self.scores += [info["episode"]["r"] for info in self.locals["infos"] if "episode" in info]
        return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="BreakoutNoFrameskip-v4")
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--window", type=int, default=20, help="games averaged at each end")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--no-augment", action="store_true", help="the same run without shift")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import ale_py

    gym.register_envs(ale_py)

    zoo = ATARI["ppo"]
    start_lr, start_clip = schedule_start(zoo["learning_rate"]), schedule_start(zoo["clip_range"])
    env = VecFrameStack(make_atari_env(args.env, n_envs=zoo["n_envs"], seed=args.seed), 4)
    model = PPO(
        "CnnPolicy",
        env,
        n_steps=zoo["n_steps"],
        n_epochs=zoo["n_epochs"],
        batch_size=zoo["batch_size"],
        learning_rate=lambda remaining: remaining * start_lr,
        clip_range=lambda remaining: remaining * start_clip,
        ent_coef=zoo["ent_coef"],
        vf_coef=zoo["vf_coef"],
        policy_kwargs={
            "features_extractor_class": AugmentedNatureCNN,
            "features_extractor_kwargs": {"augment": None if args.no_augment else "shift"},
        },
        seed=args.seed,
        device="cpu",
    )
    games = Games()
    began = time.perf_counter()
    model.learn(args.timesteps, callback=games)
    seconds = time.perf_counter() - began
    scores_seen = games.scores  # full games (all lives, raw score), in order
    eval_env = VecFrameStack(make_atari_env(args.env, n_envs=1, seed=args.seed + 100), 4)
    scores, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=args.eval_episodes, return_episode_rewards=True
    )
    result = {
        "env": args.env,
        "augment": None if args.no_augment else "shift",
        "timesteps": args.timesteps,
        "seed": args.seed,
        "seconds": round(seconds),
        "games": len(scores_seen),
        "first_games_mean": statistics.mean(scores_seen[: args.window]),
        "last_games_mean": statistics.mean(scores_seen[-args.window :]),
        "eval_episode_scores": scores,
        "eval_mean": statistics.mean(scores),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
