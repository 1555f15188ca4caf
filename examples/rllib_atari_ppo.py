"""PPO on Atari with Ray RLlib and a MobileNetV4, IMPALA-CNN or RLlib's default CNN, on one machine
or a cluster.

    python examples/rllib_atari_ppo.py --env Pong --encoder nano --num-env-runners 2
    # on a cluster, from any node: learners go to GPU nodes, env runners to CPUs
    ray job submit -- python examples/rllib_atari_ppo.py --address auto --env Pong \\
        --encoder small --num-env-runners 32 --num-learners 2 --num-gpus-per-learner 1

The env is RLlib's own Atari pipeline (``mnv4_lab.rllib_atari.RLlibAtari``: 64x64 grey, 4-frame
HWC float stacks in [-1, 1], frame skip 4, episodic life, clipped rewards). PPO settings follow
rl-zoo's Atari PPO (lr 2.5e-4, clip 0.1, 4 epochs, minibatch 256, entropy 0.01, vf 0.5), with
128 steps per env per iteration. Writes ``--log-dir/<run-name>/``: ``config.json``,
``metrics.jsonl`` (one line per iteration), ``checkpoints/iter_<n>/`` (``Algorithm.save_to_path``;
restore with ``Algorithm.from_checkpoint``) and ``eval.json`` (raw scores of full games).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import ray
import torch
from ray.rllib.algorithms.ppo import PPOConfig

import mnv4_lab
from mnv4_lab.rllib_atari import RLlibAtari, ale_id, evaluate_module
from mnv4_rl.encoders import ENCODERS
from mnv4_rl.rllib import mnv4_module_spec
from mnv4_rl.weights import CheckpointError, WeightsNotFoundError

DEFAULT = "default"  # RLlib's own CNN encoder (its default PPO module), the baseline


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    # What to train.
    p.add_argument("--env", default="Pong", help="game name or ALE/<Game>-v5 id")
    p.add_argument("--encoder", default="nano", choices=[DEFAULT, *ENCODERS])
    p.add_argument("--pretrained", nargs="?", const=True, default=None, help="ImageNet weights")
    p.add_argument("--timesteps", type=int, default=10_000_000, help="agent steps (all envs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dim", type=int, default=64, help="frame side (RLlib's Atari default)")
    p.add_argument("--framestack", type=int, default=4)
    # Scale: where the work goes.
    p.add_argument("--address", default=None, help="join a Ray cluster ('auto', or HEAD:6379)")
    p.add_argument("--num-cpus", type=int, default=None, help="local Ray only: CPUs to use")
    p.add_argument("--num-env-runners", type=int, default=2, help="0: sample in the driver")
    p.add_argument("--num-envs-per-env-runner", type=int, default=4)
    p.add_argument("--num-learners", type=int, default=0, help="0: learn in the driver")
    p.add_argument("--num-gpus-per-learner", type=float, default=0)
    p.add_argument("--torch-threads", type=int, default=0, help="driver and learners; 0: default")
    # PPO (rl-zoo's Atari settings).
    p.add_argument("--rollout-fragment-length", type=int, default=128)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--clip-param", type=float, default=0.1)
    p.add_argument("--num-epochs", type=int, default=4)
    p.add_argument("--minibatch-size", type=int, default=256)
    p.add_argument("--entropy-coeff", type=float, default=0.01)
    p.add_argument("--vf-loss-coeff", type=float, default=0.5)
    # Run folder, checkpoints, evaluation.
    p.add_argument("--log-dir", default="runs/rllib")
    p.add_argument("--run-name", default=None, help="default: rllib_ppo_<env>_<encoder>_s<seed>")
    p.add_argument("--checkpoint-every", type=int, default=50, help="iterations (0: final only)")
    p.add_argument("--eval-episodes", type=int, default=10, help="0: no final evaluation")
    p.add_argument("--greedy-eval", action="store_true", help="argmax actions (default: sample)")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> PPOConfig:
    """The PPO configuration: env, scale, hyperparameters and the encoder's RLModule."""
    env_config = {"game": args.env, "dim": args.dim, "framestack": args.framestack}
    runners = max(args.num_env_runners, 1)
    config = (
        PPOConfig()
        .environment(RLlibAtari, env_config=env_config)
        .env_runners(
            num_env_runners=args.num_env_runners,
            num_envs_per_env_runner=args.num_envs_per_env_runner,
            rollout_fragment_length=args.rollout_fragment_length,
        )
        .learners(num_learners=args.num_learners, num_gpus_per_learner=args.num_gpus_per_learner)
        .training(
            train_batch_size_per_learner=args.rollout_fragment_length
            * args.num_envs_per_env_runner
            * runners
            // max(args.num_learners, 1),
            minibatch_size=args.minibatch_size,
            num_epochs=args.num_epochs,
            lr=args.lr,
            clip_param=args.clip_param,
            entropy_coeff=args.entropy_coeff,
            vf_loss_coeff=args.vf_loss_coeff,
            lambda_=0.95,
            gamma=0.99,
            grad_clip=0.5,
        )
        .debugging(seed=args.seed)
    )
    if args.encoder != DEFAULT:
        config.rl_module(rl_module_spec=mnv4_module_spec(args.encoder, pretrained=args.pretrained))
    return config


def read_weights_first(args: argparse.Namespace) -> None:
    """Build the module once, reading its pretrained weights, before the run folder exists: a
    missing file or an unreachable hub checkpoint fails here and leaves nothing behind."""
    env = RLlibAtari({"game": args.env, "dim": args.dim, "framestack": args.framestack})
    spaces = {"observation_space": env.observation_space, "action_space": env.action_space}
    try:
        mnv4_module_spec(args.encoder, pretrained=args.pretrained, **spaces).build()
    except (WeightsNotFoundError, CheckpointError) as error:  # one line, as for a bad --env
        raise mnv4_lab.UsageError(str(error)) from None
    finally:
        env.close()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    ale_id(args.env)  # a bad --env fails here, before Ray starts
    if args.pretrained and args.encoder != DEFAULT:
        read_weights_first(args)
    run_dir = Path(args.log_dir).resolve() / (
        args.run_name or f"rllib_ppo_{args.env.replace('/', '_')}_{args.encoder}_s{args.seed}"
    )
    if run_dir.exists():
        raise mnv4_lab.UsageError(f"{run_dir} exists; pass another --run-name or remove it")
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(vars(args), indent=2))
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    algo = build_config(args).build_algo()
    print(f"RLlib PPO {args.encoder} on {args.env}: {args.num_env_runners} env runner(s)")

    steps, iteration, start = 0, 0, time.perf_counter()
    with open(run_dir / "metrics.jsonl", "w") as log:
        while steps < args.timesteps:
            result = algo.train()
            iteration += 1
            runners = result["env_runners"]
            steps = int(runners["num_env_steps_sampled_lifetime"])
            seconds = time.perf_counter() - start
            row = {
                "iteration": iteration,
                "env_steps": steps,
                "seconds": seconds,
                "steps_per_second": steps / seconds,
                "episode_return_mean": runners.get("episode_return_mean"),  # clipped rewards
            }
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(
                f"iter {iteration}: {steps} steps, {row['steps_per_second']:.1f} steps/s, "
                f"training return {row['episode_return_mean']}",
                flush=True,
            )
            if args.checkpoint_every and iteration % args.checkpoint_every == 0:
                algo.save_to_path(str(run_dir / "checkpoints" / f"iter_{iteration}"))
    final = run_dir / "checkpoints" / "final"
    algo.save_to_path(str(final))

    env_config = {"game": args.env, "dim": args.dim, "framestack": args.framestack}
    torch.set_num_threads(1)  # acting on one observation at a time (docs/threads-and-install.md)
    scores = evaluate_module(
        algo.get_module(), env_config, args.eval_episodes, args.seed + 10_000, args.greedy_eval
    )
    result = {
        "env": args.env,
        "encoder": args.encoder,
        "env_steps": steps,
        "train_seconds": seconds,
        "steps_per_second": steps / seconds,
        "eval_episodes": args.eval_episodes,
        "eval_scores": scores,
        "eval_return_mean": float(np.mean(scores)) if scores else None,
        "checkpoint": str(final),
    }
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2))
    print(f"eval: {result['eval_return_mean']} over {len(scores)} games; files: {run_dir}")
    algo.stop()
    ray.shutdown()
    return result


if __name__ == "__main__":
    try:
        main()
    except mnv4_lab.UsageError as error:
        sys.exit(f"error: {error}")
