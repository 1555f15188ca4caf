"""DQN on Atari with a MobileNetV4 (or NatureCNN) encoder, Stable-Baselines3 + ale-py.

Defaults are rl-baselines3-zoo's ``dqn.yml: atari`` hyperparameters (1 env, lr 1e-4, buffer 100k,
batch 32, learning starts 100k, target update every 1000, train every 4 steps, epsilon 1 -> 0.01
over the first 10%, 10M steps). The 100k buffer holds observations and next observations, about
5.6 GB; ``--optimize-memory-usage`` halves that, ``--buffer-size`` shrinks it.

    python examples/atari_dqn.py --env Pong --encoder nano --timesteps 1000000
    python examples/atari_dqn.py --env Breakout --encoder small --pretrained

Writes under ``--log-dir/<run-name>/`` the files of ``examples/atari_ppo.py`` (see
``mnv4_lab.runs``); the throughput in ``eval.json`` is measured after ``learning_starts``, when
gradient updates run. Ctrl-C saves the model and the replay buffer; ``--resume`` loads both.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch
from stable_baselines3 import DQN

import mnv4_lab
from mnv4_lab.atari import ENCODERS, make_atari_envs, read_weights_first
from mnv4_lab.runs import evaluate, prepare_run, train, write_result
from mnv4_rl.sb3 import encoder_policy_kwargs
from mnv4_rl.zoo import ATARI

ZOO = ATARI["dqn"]


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
    p.add_argument("--n-envs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--torch-threads", type=int, default=0, help="0: torch's default")
    p.add_argument("--tune-malloc", action="store_true", help="mnv4_lab.tune_malloc() first")
    # rl-zoo Atari DQN hyperparameters.
    p.add_argument("--learning-rate", type=float, default=ZOO["learning_rate"])
    p.add_argument("--buffer-size", type=int, default=ZOO["buffer_size"])
    p.add_argument("--optimize-memory-usage", action="store_true", help="store each frame once")
    p.add_argument("--batch-size", type=int, default=ZOO["batch_size"])
    p.add_argument("--learning-starts", type=int, default=ZOO["learning_starts"])
    p.add_argument("--target-update-interval", type=int, default=ZOO["target_update_interval"])
    p.add_argument("--train-freq", type=int, default=ZOO["train_freq"])
    p.add_argument("--gradient-steps", type=int, default=ZOO["gradient_steps"])
    p.add_argument("--exploration-fraction", type=float, default=ZOO["exploration_fraction"])
    p.add_argument("--exploration-final-eps", type=float, default=ZOO["exploration_final_eps"])
    # Run folder, checkpoints, evaluation.
    p.add_argument("--log-dir", default="runs")
    p.add_argument("--run-name", default=None, help="default: dqn_<env>_<encoder>_s<seed>")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run folder first")
    p.add_argument("--checkpoint-freq", type=int, default=500_000, help="agent steps")
    p.add_argument("--eval-episodes", type=int, default=10, help="0: no final evaluation")
    p.add_argument("--deterministic-eval", action="store_true", help="default: eps=final eps")
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
        args.encoder, "dqn", pretrained=args.pretrained, features_dim=args.features_dim
    )
    if args.pretrained:
        read_weights_first(policy_kwargs)
    run = prepare_run(args, "dqn", resume=args.resume, overwrite=args.overwrite)

    # Training envs: episodic life + clipped rewards; Monitor logs the raw full-game scores.
    env = make_atari_envs(
        args.env, n_envs=args.n_envs, seed=args.seed, monitor_dir=str(run.monitor_dir)
    )
    tensorboard = None if args.no_tensorboard else mnv4_lab.tensorboard_dir(run.dir)
    replay_buffer = run.dir / "checkpoints" / "replay_buffer.pkl"
    if run.resume_from:
        model = DQN.load(run.resume_from, env=env, device=args.device, tensorboard_log=tensorboard)
        if replay_buffer.exists():
            model.load_replay_buffer(replay_buffer)
        else:
            warnings.warn(
                f"no {replay_buffer.name} beside the checkpoint: the replay buffer starts empty",
                UserWarning,
                stacklevel=1,
            )
    else:
        model = DQN(
            "CnnPolicy",
            env,
            learning_rate=args.learning_rate,
            buffer_size=args.buffer_size,
            # SB3 cannot combine the memory-optimised buffer with timeout handling.
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
            policy_kwargs=policy_kwargs,
            tensorboard_log=tensorboard,
            seed=args.seed,
            device=args.device,
            verbose=0,
        )
    n_params = sum(p.numel() for p in model.q_net.parameters())
    print(f"DQN {args.encoder} on {args.env}: {n_params:,} Q-network parameters, {model.device}")

    # Throughput is measured once updates run, as SB3's fps would be after learning_starts.
    trained = train(
        model,
        run,
        args.timesteps,
        args.checkpoint_freq,
        args.n_envs,
        progress_bar=not args.no_progress_bar,
        start_after=args.learning_starts,
    )
    env.close()
    if trained["interrupted"]:
        model.save_replay_buffer(replay_buffer)
        sys.exit(130)

    # Final evaluation: full games, raw scores (no episodic life, no reward clipping). It acts
    # on one observation at a time: one torch thread (docs/threads-and-install.md).
    torch.set_num_threads(1)
    mean, std = evaluate(model, args.env, args.eval_episodes, args.seed, args.deterministic_eval)
    result = {
        "algo": "dqn",
        "env": args.env,
        "encoder": args.encoder,
        "timesteps": model.num_timesteps,
        "eval_episodes": args.eval_episodes,
        "eval_return_mean": mean,
        "eval_return_std": std,
        "train_seconds": trained["train_seconds"],
        "steps_per_second": trained["steps_per_second"],
        "measured_steps": trained["measured_steps"],
    }
    write_result(run, result)
    return result


if __name__ == "__main__":
    try:
        main()
    except mnv4_lab.UsageError as error:  # a bad --env, an existing run folder...: one line
        sys.exit(f"error: {error}")
