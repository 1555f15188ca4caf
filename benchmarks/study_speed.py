"""Agent steps/s of the study's protocol per encoder, from short runs started by hand
(``mnv4_lab.study.trial.train_run``, one torch thread, a fresh process each), the encoders
interleaved (a, b, a, b...). The speed is ``eval.json``'s ``steps_per_second``: agent steps over
the wall clock of ``learn()``, PPO's updates included. Use a multiple of one rollout (CarRacing:
8 envs x 512 steps = 4096) so every run ends with its update.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/study_speed.py --game CarRacing-v3 \\
        --encoders nature nano --timesteps 4096 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def one(runs: Path, game: str, encoder: str, timesteps: int) -> tuple[float, float]:
    """Train one run in this process; return its agent steps per wall-clock second and per CPU
    second of the process (all its threads; what a dedicated core would give, roughly)."""
    from mnv4_lab.study.grid import RunSpec
    from mnv4_lab.study.trial import train_run

    config = {"run": RunSpec("ppo", game, encoder, 0).to_dict(), "runs_dir": str(runs),
              "timesteps": timesteps, "checkpoint_freq": 0,
              "overrides": {"eval_episodes": 0}}  # fmt: skip
    result = train_run(config)
    cpu = result["measured_steps"] / result["segment_cpu_seconds"]
    return float(result["steps_per_second"]), float(cpu)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--game", default="CarRacing-v3")
    p.add_argument("--encoders", nargs="+", default=["nature", "nano"])
    p.add_argument("--timesteps", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--runs", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        speed, cpu = one(Path(args.runs), args.game, args.one, args.timesteps)
        print(f"SPEED {speed} {cpu}")
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    speeds: dict[str, list[float]] = {e: [] for e in args.encoders}
    cpus: dict[str, list[float]] = {e: [] for e in args.encoders}
    for repeat in range(args.repeats):
        for encoder in args.encoders:
            with tempfile.TemporaryDirectory() as runs:
                started = time.time()
                out = subprocess.run(
                    [sys.executable, str(HERE), "--one", encoder, "--runs", runs,
                     "--game", args.game, "--timesteps", str(args.timesteps)],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                line = [x for x in out.stdout.splitlines() if x.startswith("SPEED ")][-1]
                speeds[encoder].append(float(line.split()[1]))
                cpus[encoder].append(float(line.split()[2]))
                print(f"{repeat} {encoder}: {speeds[encoder][-1]:.1f} agent steps/s, "
                      f"{cpus[encoder][-1]:.1f} per CPU second "
                      f"(process {time.time() - started:.0f} s)", flush=True)  # fmt: skip
    print(f"\n{args.game} PPO (study protocol), {args.timesteps} agent steps, one torch thread")
    for encoder, values in speeds.items():
        median = statistics.median(values)
        cpu = statistics.median(cpus[encoder])
        print(f"{encoder}: median {median:.1f} agent steps/s {[round(v, 1) for v in values]}; "
              f"{cpu:.1f} per CPU second {[round(v, 1) for v in cpus[encoder]]}; 200k steps = "
              f"{200_000 / median / 3600:.1f} h at this load, {200_000 / cpu / 3600:.1f} h "
              "of one core")  # fmt: skip


if __name__ == "__main__":
    main()
