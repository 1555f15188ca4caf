"""Ray Tune's overhead on a study run: agent steps/s of the same short run started by hand
(``mnv4_lab.study.trial.train_run`` in a fresh process, checkpoints into the run folder) and as
a Tune trial (``mnv4_lab.study.engine.run_study`` on a fresh local Ray, checkpoints handed to
Tune), interleaved hand, Tune, hand, Tune... Each run's speed is its ``eval.json``
``steps_per_second`` (SB3's definition: agent steps over the wall clock of ``learn()``, updates
and checkpoints included); Ray's start-up is not part of it.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/study_overhead.py --pairs 3 --timesteps 8192
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def one(
    mode: str, runs: Path, game: str, encoder: str, timesteps: int, freq: int
) -> tuple[float, float]:
    """Train one run in this process, by hand or as a Tune trial; return its agent steps per
    wall-clock second and per CPU second of the training process (all its threads)."""
    from mnv4_lab.study.grid import RunSpec

    spec = RunSpec("ppo", game, encoder, 0)
    overrides = {"eval_episodes": 0}
    if mode == "hand":
        from mnv4_lab.study.trial import train_run

        config = {"run": spec.to_dict(), "runs_dir": str(runs), "timesteps": timesteps,
                  "checkpoint_freq": freq, "overrides": overrides}  # fmt: skip
        result = train_run(config)
    else:
        from mnv4_lab.study.engine import run_study

        run_study([spec], runs, timesteps, freq, num_cpus=1, overrides=overrides, verbose=0)
        result = json.loads((runs / spec.name / "eval.json").read_text())
    cpu = result["measured_steps"] / result["segment_cpu_seconds"]
    return float(result["steps_per_second"]), float(cpu)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--game", default="Breakout")
    p.add_argument("--encoder", default="nature")
    p.add_argument("--timesteps", type=int, default=8192)
    p.add_argument("--checkpoint-freq", type=int, default=4096, help="agent steps")
    p.add_argument("--one", choices=["hand", "tune"], help=argparse.SUPPRESS)
    p.add_argument("--runs", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        speed, cpu = one(args.one, Path(args.runs), args.game, args.encoder, args.timesteps,
                         args.checkpoint_freq)  # fmt: skip
        print(f"SPEED {speed} {cpu}")
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    speeds: dict[str, list[float]] = {"hand": [], "tune": []}
    cpus: dict[str, list[float]] = {"hand": [], "tune": []}
    for pair in range(args.pairs):
        for mode in ("hand", "tune"):
            with tempfile.TemporaryDirectory() as runs:
                started = time.time()
                out = subprocess.run(
                    [sys.executable, str(HERE), "--one", mode, "--runs", runs, "--game", args.game,
                     "--encoder", args.encoder, "--timesteps", str(args.timesteps),
                     "--checkpoint-freq", str(args.checkpoint_freq)],
                    env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                line = [x for x in out.stdout.splitlines() if x.startswith("SPEED ")][-1]
                speeds[mode].append(float(line.split()[1]))
                cpus[mode].append(float(line.split()[2]))
                print(f"pair {pair} {mode}: {speeds[mode][-1]:.1f} agent steps/s, "
                      f"{cpus[mode][-1]:.1f} per CPU second "
                      f"(process {time.time() - started:.0f} s)", flush=True)  # fmt: skip
    hand, tune = statistics.median(speeds["hand"]), statistics.median(speeds["tune"])
    ratios = [t / h for h, t in zip(speeds["hand"], speeds["tune"], strict=True)]
    print(f"\n{args.game} {args.encoder} PPO, {args.timesteps} agent steps, one torch thread")
    print(f"by hand: median {hand:.1f} agent steps/s {[round(s, 1) for s in speeds['hand']]}")
    print(f"Tune:    median {tune:.1f} agent steps/s {[round(s, 1) for s in speeds['tune']]}")
    print(
        f"Tune / hand per pair: {[round(r, 3) for r in ratios]}; median {statistics.median(ratios):.3f}"
    )
    cpu_ratios = [t / h for h, t in zip(cpus["hand"], cpus["tune"], strict=True)]
    print(
        f"per CPU second: by hand {[round(c, 1) for c in cpus['hand']]}, Tune "
        f"{[round(c, 1) for c in cpus['tune']]}; Tune / hand per pair "
        f"{[round(r, 3) for r in cpu_ratios]}, median {statistics.median(cpu_ratios):.3f}"
    )


if __name__ == "__main__":
    main()
