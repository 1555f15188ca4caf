"""DQN on Atari with a MobileNetV4 (or NatureCNN) encoder, Stable-Baselines3 + ale-py.

Defaults are rl-baselines3-zoo's ``dqn.yml: atari`` hyperparameters (1 env, lr 1e-4, buffer 100k,
batch 32, learning starts 100k, target update every 1000, train every 4 steps, epsilon 1 -> 0.01
over the first 10%, 10M steps). The 100k buffer holds observations and next observations, about
5.6 GB; ``--optimize-memory-usage`` halves that, ``--buffer-size`` shrinks it.

    python examples/atari_dqn.py --env Pong --encoder nano --timesteps 1000000
    python examples/atari_dqn.py --env Breakout --encoder small --pretrained

Writes under ``--log-dir/<run-name>/``: ``config.json``, ``monitor/*.monitor.csv``, ``tb/``,
``checkpoints/``, ``final_model.zip`` and ``eval.json`` (final evaluation and throughput, the
latter measured after ``learning_starts``, when gradient updates run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
from stable_baselines3.common.evaluation import evaluate_policy

import mnv4_rl
from mnv4_rl.atari import ENCODERS, ThroughputCallback, encoder_policy_kwargs, make_atari_envs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    # What to train.
    p.add_argument("--env", default="Pong", help="game name or NoFrameskip-v4 / ALE v5 id")
    p.add_argument("--encoder", default="nano", choices=ENCODERS)
    p.add_argument(
        "--pretrained",
        nargs="?",
        const=True,
        default=None,
        help="ImageNet weights: alone = the variant's timm weights; or a hub id / local file",
    )
    p.add_argument("--features-dim", type=int, default=512, help="width of the encoder output")
    p.add_argument("--timesteps", type=int, default=10_000_000, help="agent steps (all envs)")
    p.add_argument("--n-envs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    p.add_argument("--tune-malloc", action="store_true", help="mnv4_rl.tune_malloc() first")
    # rl-zoo Atari DQN hyperparameters.
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--buffer-size", type=int, default=100_000)
    p.add_argument("--optimize-memory-usage", action="store_true", help="store each frame once")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-starts", type=int, default=100_000)
    p.add_argument("--target-update-interval", type=int, default=1000)
    p.add_argument("--train-freq", type=int, default=4)
    p.add_argument("--gradient-steps", type=int, default=1)
    p.add_argument("--exploration-fraction", type=float, default=0.1)
    p.add_argument("--exploration-final-eps", type=float, default=0.01)
    # Logging, checkpoints, evaluation.
    p.add_argument("--log-dir", default="runs")
    p.add_argument("--run-name", default=None, help="default: dqn_<env>_<encoder>_s<seed>")
    p.add_argument("--checkpoint-freq", type=int, default=500_000, help="agent steps")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--deterministic-eval", action="store_true", help="default: eps=final eps")
    p.add_argument("--no-progress-bar", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    if args.tune_malloc and mnv4_rl.tune_malloc():
        print("malloc: tuned (freed memory kept for reuse)")
    run_name = args.run_name or f"dqn_{args.env.replace('/', '_')}_{args.encoder}_s{args.seed}"
    run_dir = Path(args.log_dir) / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({"algo": "dqn", **vars(args)}, indent=2))

    # Training envs: episodic life + clipped rewards; Monitor logs the raw full-game scores.
    env = make_atari_envs(
        args.env, n_envs=args.n_envs, seed=args.seed, monitor_dir=str(run_dir / "monitor")
    )
    model = DQN(
        "CnnPolicy",
        env,
        learning_rate=args.learning_rate,
        buffer_size=args.buffer_size,
        # SB3 cannot combine the memory-optimised buffer with timeout handling; it is off anyway.
        optimize_memory_usage=args.optimize_memory_usage,
        replay_buffer_kwargs={"handle_timeout_termination": False}
        if args.optimize_memory_usage
        else None,
        batch_size=args.batch_size,
        learning_starts=args.learning_starts,
        target_update_interval=args.target_update_interval,
        train_freq=args.train_freq,
        gradient_steps=args.gradient_steps,
        exploration_fraction=args.exploration_fraction,
        exploration_final_eps=args.exploration_final_eps,
        policy_kwargs=encoder_policy_kwargs(
            args.encoder, "dqn", pretrained=args.pretrained, features_dim=args.features_dim
        ),
        tensorboard_log=str(run_dir / "tb"),
        seed=args.seed,
        device=args.device,
        verbose=0,
    )
    n_params = sum(p.numel() for p in model.q_net.parameters())
    print(f"DQN {args.encoder} on {args.env}: {n_params:,} Q-network parameters, {model.device}")

    # Throughput is measured once updates run, as SB3's fps would be after learning_starts.
    throughput = ThroughputCallback(start_after=args.learning_starts)
    checkpoints = CheckpointCallback(
        save_freq=max(args.checkpoint_freq // args.n_envs, 1),
        save_path=str(run_dir / "checkpoints"),
        name_prefix="dqn",
    )
    start = time.perf_counter()
    model.learn(
        total_timesteps=args.timesteps,
        callback=CallbackList([checkpoints, throughput]),
        progress_bar=not args.no_progress_bar,
        tb_log_name="dqn",
    )
    train_seconds = time.perf_counter() - start
    model.save(run_dir / "final_model")
    env.close()

    # Evaluation envs: full games, raw scores (no episodic life, no reward clipping).
    eval_env = make_atari_envs(args.env, n_envs=1, seed=args.seed + 10_000, training=False)
    mean_return, std_return = evaluate_policy(
        model,
        eval_env,
        n_eval_episodes=args.eval_episodes,
        deterministic=args.deterministic_eval,
    )
    eval_env.close()

    result = {
        "algo": "dqn",
        "env": args.env,
        "encoder": args.encoder,
        "timesteps": model.num_timesteps,
        "eval_episodes": args.eval_episodes,
        "eval_return_mean": float(mean_return),
        "eval_return_std": float(std_return),
        "train_seconds": train_seconds,
        "steps_per_second": throughput.steps_per_second,
        "measured_steps": throughput.steps,
    }
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    print(
        f"eval over {args.eval_episodes} episodes: {mean_return:.2f} +/- {std_return:.2f}\n"
        f"throughput after learning_starts: {throughput.steps_per_second:.1f} agent steps/s "
        f"({throughput.steps} steps in {throughput.seconds:.1f} s, updates included)\n"
        f"files: {run_dir}"
    )
    return result


if __name__ == "__main__":
    main()
