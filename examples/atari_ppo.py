"""PPO on Atari with a MobileNetV4, IMPALA-CNN or NatureCNN encoder, Stable-Baselines3 + ale-py.

Defaults are rl-baselines3-zoo's ``ppo.yml: atari`` hyperparameters (``mnv4_rl.zoo.ATARI``: 8 envs x
128 steps, 4 epochs, minibatch 256, lr and clip range linearly decayed from 2.5e-4 and 0.1, ent
0.01, vf 0.5, 10M steps).

    python examples/atari_ppo.py --env Pong --encoder nano --timesteps 1000000
    python examples/atari_ppo.py --env Breakout --encoder small --pretrained   # ImageNet weights
    python examples/atari_ppo.py --env Breakout --encoder impala --resume      # after Ctrl-C

Writes under ``--log-dir/<run-name>/`` (see ``mnv4_lab.runs``): ``config.json``,
``monitor/*.monitor.csv`` (full-game raw scores), ``tb/`` (TensorBoard), ``checkpoints/``,
``final_model.zip`` and ``eval.json``. Plot runs with ``examples/plot_learning_curves.py``.
"""

from __future__ import annotations

import argparse
import sys

import torch
from stable_baselines3 import PPO

import mnv4_lab
from mnv4_lab.atari import ENCODERS, make_atari_envs, read_weights_first
from mnv4_lab.runs import evaluate, prepare_run, train, write_result
from mnv4_rl.sb3 import encoder_policy_kwargs
from mnv4_rl.zoo import ATARI, schedule_start

ZOO = ATARI["ppo"]


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
    p.add_argument("--features-dim", type=int, default=None, help="default: 512 (IMPALA 256)")
    p.add_argument("--timesteps", type=int, default=int(ZOO["n_timesteps"]), help="agent steps")
    p.add_argument("--n-envs", type=int, default=ZOO["n_envs"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    p.add_argument("--tune-malloc", action="store_true", help="mnv4_lab.tune_malloc() first")
    p.add_argument("--subproc-envs", action="store_true", help="one process per env")
    # rl-zoo Atari PPO hyperparameters.
    lr, clip = schedule_start(ZOO["learning_rate"]), schedule_start(ZOO["clip_range"])
    p.add_argument("--learning-rate", type=float, default=lr, help="decayed linearly to 0")
    p.add_argument("--n-steps", type=int, default=ZOO["n_steps"])
    p.add_argument("--batch-size", type=int, default=ZOO["batch_size"])
    p.add_argument("--n-epochs", type=int, default=ZOO["n_epochs"])
    p.add_argument("--clip-range", type=float, default=clip, help="decayed linearly to 0")
    p.add_argument("--ent-coef", type=float, default=ZOO["ent_coef"])
    p.add_argument("--vf-coef", type=float, default=ZOO["vf_coef"])
    # Run folder, checkpoints, evaluation.
    p.add_argument("--log-dir", default="runs")
    p.add_argument("--run-name", default=None, help="default: ppo_<env>_<encoder>_s<seed>")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run folder first")
    p.add_argument("--checkpoint-freq", type=int, default=500_000, help="agent steps")
    p.add_argument("--eval-episodes", type=int, default=10, help="0: no final evaluation")
    p.add_argument("--deterministic-eval", action="store_true", help="rl-zoo: stochastic")
    p.add_argument("--no-tensorboard", action="store_true", help="no tb/ logs")
    p.add_argument("--no-progress-bar", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    if args.tune_malloc and mnv4_lab.tune_malloc():
        print("malloc: tuned (freed memory kept for reuse)")
    policy_kwargs = encoder_policy_kwargs(
        args.encoder, "ppo", pretrained=args.pretrained, features_dim=args.features_dim
    )
    if args.pretrained:
        read_weights_first(policy_kwargs)
    run = prepare_run(args, "ppo", resume=args.resume, overwrite=args.overwrite)

    # Training envs: episodic life + clipped rewards; Monitor logs the raw full-game scores.
    env = make_atari_envs(
        args.env,
        n_envs=args.n_envs,
        seed=args.seed,
        monitor_dir=str(run.monitor_dir),
        subprocess=args.subproc_envs,
    )
    tensorboard = None if args.no_tensorboard else mnv4_lab.tensorboard_dir(run.dir)
    if run.resume_from:
        model = PPO.load(run.resume_from, env=env, device=args.device, tensorboard_log=tensorboard)
    else:
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
            policy_kwargs=policy_kwargs,
            tensorboard_log=tensorboard,
            seed=args.seed,
            device=args.device,
            verbose=0,
        )
    n_params = sum(p.numel() for p in model.policy.parameters())
    print(f"PPO {args.encoder} on {args.env}: {n_params:,} policy parameters, {model.device}")

    trained = train(
        model,
        run,
        args.timesteps,
        args.checkpoint_freq,
        args.n_envs,
        progress_bar=not args.no_progress_bar,
    )
    env.close()
    if trained["interrupted"]:
        sys.exit(130)

    # Final evaluation: full games, raw scores (no episodic life, no reward clipping). It acts
    # on one observation at a time: one torch thread (docs/threads-and-install.md).
    torch.set_num_threads(1)
    mean, std = evaluate(model, args.env, args.eval_episodes, args.seed, args.deterministic_eval)
    result = {
        "algo": "ppo",
        "env": args.env,
        "encoder": args.encoder,
        "timesteps": model.num_timesteps,
        "eval_episodes": args.eval_episodes,
        "eval_return_mean": mean,
        "eval_return_std": std,
        "train_seconds": trained["train_seconds"],
        "steps_per_second": trained["steps_per_second"],
    }
    write_result(run, result)
    return result


if __name__ == "__main__":
    try:
        main()
    except mnv4_lab.UsageError as error:  # a bad --env, an existing run folder...: one line
        sys.exit(f"error: {error}")
