"""PPO on Atari with a MobileNetV4 (or NatureCNN) encoder, Stable-Baselines3 + ale-py.

Defaults are rl-baselines3-zoo's ``ppo.yml: atari`` hyperparameters (8 envs x 128 steps, 4 epochs,
minibatch 256, lr and clip range linearly decayed from 2.5e-4 and 0.1, ent 0.01, vf 0.5, 10M steps).

    python examples/atari_ppo.py --env Pong --encoder nano --timesteps 1000000
    python examples/atari_ppo.py --env Breakout --encoder small --pretrained   # ImageNet weights

Writes under ``--log-dir/<run-name>/``: ``config.json``, ``monitor/*.monitor.csv`` (one per env,
full-game raw scores), ``tb/`` (TensorBoard), ``checkpoints/``, ``final_model.zip`` and
``eval.json`` (final evaluation and the run's throughput). Plot several runs with
``examples/plot_learning_curves.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
from stable_baselines3.common.evaluation import evaluate_policy

import mnv4_rl
from mnv4_rl.atari import ENCODERS, ThroughputCallback, encoder_policy_kwargs, make_atari_envs


def linear_schedule(start: float):
    """rl-zoo's ``lin_<value>``: decays linearly from ``start`` to 0 over training."""
    return lambda progress_remaining: progress_remaining * start


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
    p.add_argument("--n-envs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    p.add_argument("--tune-malloc", action="store_true", help="mnv4_rl.tune_malloc() first")
    p.add_argument("--subproc-envs", action="store_true", help="one process per env")
    # rl-zoo Atari PPO hyperparameters.
    p.add_argument("--learning-rate", type=float, default=2.5e-4, help="decayed linearly to 0")
    p.add_argument("--n-steps", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--n-epochs", type=int, default=4)
    p.add_argument("--clip-range", type=float, default=0.1, help="decayed linearly to 0")
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--vf-coef", type=float, default=0.5)
    # Logging, checkpoints, evaluation.
    p.add_argument("--log-dir", default="runs")
    p.add_argument("--run-name", default=None, help="default: ppo_<env>_<encoder>_s<seed>")
    p.add_argument("--checkpoint-freq", type=int, default=500_000, help="agent steps")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--deterministic-eval", action="store_true", help="rl-zoo: stochastic")
    p.add_argument("--no-progress-bar", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    if args.tune_malloc and mnv4_rl.tune_malloc():
        print("malloc: tuned (freed memory kept for reuse)")
    run_name = args.run_name or f"ppo_{args.env.replace('/', '_')}_{args.encoder}_s{args.seed}"
    run_dir = Path(args.log_dir) / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({"algo": "ppo", **vars(args)}, indent=2))

    # Training envs: episodic life + clipped rewards; Monitor logs the raw full-game scores.
    env = make_atari_envs(
        args.env,
        n_envs=args.n_envs,
        seed=args.seed,
        monitor_dir=str(run_dir / "monitor"),
        subprocess=args.subproc_envs,
    )
    model = PPO(
        "CnnPolicy",
        env,
        learning_rate=linear_schedule(args.learning_rate),
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        clip_range=linear_schedule(args.clip_range),
        ent_coef=args.ent_coef,
        vf_coef=args.vf_coef,
        policy_kwargs=encoder_policy_kwargs(
            args.encoder, "ppo", pretrained=args.pretrained, features_dim=args.features_dim
        ),
        tensorboard_log=str(run_dir / "tb"),
        seed=args.seed,
        device=args.device,
        verbose=0,
    )
    n_params = sum(p.numel() for p in model.policy.parameters())
    print(f"PPO {args.encoder} on {args.env}: {n_params:,} policy parameters, {model.device}")

    throughput = ThroughputCallback()
    checkpoints = CheckpointCallback(
        save_freq=max(args.checkpoint_freq // args.n_envs, 1),
        save_path=str(run_dir / "checkpoints"),
        name_prefix="ppo",
    )
    start = time.perf_counter()
    model.learn(
        total_timesteps=args.timesteps,
        callback=CallbackList([checkpoints, throughput]),
        progress_bar=not args.no_progress_bar,
        tb_log_name="ppo",
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
        "algo": "ppo",
        "env": args.env,
        "encoder": args.encoder,
        "timesteps": model.num_timesteps,
        "eval_episodes": args.eval_episodes,
        "eval_return_mean": float(mean_return),
        "eval_return_std": float(std_return),
        "train_seconds": train_seconds,
        "steps_per_second": throughput.steps_per_second,
    }
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    print(
        f"eval over {args.eval_episodes} episodes: {mean_return:.2f} +/- {std_return:.2f}\n"
        f"throughput: {throughput.steps_per_second:.1f} agent steps/s "
        f"({model.num_timesteps} steps in {train_seconds:.1f} s, updates included)\n"
        f"files: {run_dir}"
    )
    return result


if __name__ == "__main__":
    main()
