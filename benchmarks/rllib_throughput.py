"""RLlib PPO throughput on Atari: RLlib's default CNN against MobileNetV4 encoders, and how it
changes with the number of env runners.

Each measurement is a fresh process: a local Ray (``--num-cpus``), PPO on RLlib's Atari pipeline
(``mnv4_lab.rllib_atari.RLlibAtari``, 64x64x4 frames) with 8 envs in all (one local env runner with
8 envs for 0 remote runners, else ``8 / runners`` envs per runner), 128 steps per env per
iteration, rl-zoo's PPO update (4 epochs, minibatch 256), the learner in the driver (with
``--gpus-per-learner 1``: one learner actor on a GPU). One
iteration warms up; the next ``--iterations`` are timed: agent steps sampled per wall second,
updates included. The (encoder, runners) pairs take turns for ``--repeats`` rounds; the table
gives medians and the ratio to the default encoder at the same number of runners.

    python benchmarks/rllib_throughput.py --out docs/results/cpu-2core/rllib
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKER = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from mnv4_lab.rllib_atari import RLlibAtari
from mnv4_rl.rllib import mnv4_module_spec

encoder, runners, iterations, cpus, game, gpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
envs_per_runner = 8 // max(runners, 1)
config = (
    PPOConfig()
    .environment(RLlibAtari, env_config={"game": game})
    .env_runners(num_env_runners=runners, num_envs_per_env_runner=envs_per_runner, rollout_fragment_length=128)
    .training(train_batch_size_per_learner=1024, minibatch_size=256, num_epochs=4, lr=2.5e-4, clip_param=0.1)
    .learners(num_learners=1 if gpus else 0, num_gpus_per_learner=gpus)
)
if encoder != "default":
    config.rl_module(rl_module_spec=mnv4_module_spec(encoder))
algo = config.build_algo()
def steps():
    return algo.train()["env_runners"]["num_env_steps_sampled_lifetime"]
before = steps()  # warm-up iteration
start = time.perf_counter()
for _ in range(iterations):
    after = steps()
seconds = time.perf_counter() - start
print(json.dumps({"steps": after - before, "seconds": seconds, "steps_per_second": (after - before) / seconds}))
algo.stop()
ray.shutdown()
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--encoders", nargs="+", default=["default", "nano", "small"])
    p.add_argument("--runners", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per measurement")
    p.add_argument("--num-cpus", type=int, default=os.cpu_count())
    p.add_argument("--env", default="Pong")
    p.add_argument(
        "--gpus-per-learner", type=float, default=0, help="GPU rows: one learner on a GPU"
    )
    p.add_argument("--out", default=None)
    return p.parse_args(argv)


def measure(encoder: str, runners: int, args: argparse.Namespace) -> float:
    command = [sys.executable, "-c", WORKER, encoder, str(runners), str(args.iterations)]
    command += [str(args.num_cpus), args.env, str(args.gpus_per_learner)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{encoder} x {runners} runners failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["steps_per_second"]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    results: dict[str, list[float]] = {}
    for round_ in range(args.repeats):
        for runners in args.runners:
            for encoder in args.encoders:
                started = time.time()
                value = measure(encoder, runners, args)
                results.setdefault(f"{encoder}|{runners}", []).append(value)
                print(f"round {round_ + 1}: {encoder} x {runners} runners: {value:.1f} steps/s "
                      f"({time.time() - started:.0f} s)", flush=True)  # fmt: skip
    import ray
    import torch

    from mnv4_lab.bench.report import cpu_model

    lines = [
        f"{cpu_model()}, {os.cpu_count()} logical CPUs; RLlib {ray.__version__} PPO on {args.env} "
        f"(RLlib's Atari pipeline, 64x64x4), 8 envs, {args.num_cpus} CPUs for Ray, torch "
        f"{torch.__version__}; "
        f"agent steps/s (median of {args.repeats} interleaved repeats), [ratio to default]",
        "",
        "| encoder | " + " | ".join(f"{r} env runner(s)" for r in args.runners) + " |",
        "|---|" + "---:|" * len(args.runners),
    ]
    for encoder in args.encoders:
        cells = []
        for runners in args.runners:
            value = statistics.median(results[f"{encoder}|{runners}"])
            base = statistics.median(results[f"{args.encoders[0]}|{runners}"])
            cells.append(f"{value:.1f} [{value / base:.2f}x]")
        lines.append(f"| {encoder} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "throughput.md").write_text(text + "\n")
        (out / "throughput.json").write_text(
            json.dumps({"config": vars(args), "steps_per_second": results}, indent=2)
        )
    return results


if __name__ == "__main__":
    main()
