"""``mnv4-rl-study``: train a seeded grid of Atari runs, then report it.

    mnv4-rl-study run --games Breakout Qbert --encoders nature impala nano nano_rl \\
        --seeds 0 1 2 --timesteps 200000 --jobs 2 --runs runs/study
    mnv4-rl-study report runs/study --out docs/results/study

``run`` skips finished runs and resumes killed ones from their last checkpoint, so the same
command picks up where it stopped. ``pause RUNS`` / ``resume RUNS`` stop and continue a study (for
a quiet benchmark); the paused time is left out of the runs' training seconds. On a bigger machine
raise ``--jobs`` (one torch thread per run); on several machines give each ``--shard i/n``
(machine ``i`` of ``n``) with the same grid, then copy the run folders together and ``report``
them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnv4_rl.sb3 import SB3_ENCODERS

from ..errors import UsageError
from .grid import make_grid, run_grid, shard
from .pause import pause, resume
from .report import write_report


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    try:
        return int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n, e.g. 0/2, got {text!r}") from None


def _target(text: str) -> tuple[str, float]:
    game, _, value = text.partition("=")
    try:
        return game, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected GAME=SCORE, e.g. Breakout=5, got {text!r}"
        ) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the grid (skips finished runs, resumes killed ones)")
    run.add_argument("--games", nargs="+", required=True, help="game names, e.g. Breakout Qbert")
    run.add_argument(
        "--encoders",
        nargs="+",
        default=["nature", "impala", "nano", "nano_rl"],
        choices=SB3_ENCODERS,
    )
    run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run.add_argument("--algo", default="ppo", choices=["ppo", "dqn"])
    run.add_argument("--timesteps", type=int, default=200_000, help="agent steps per run")
    run.add_argument("--jobs", type=int, default=2, help="runs at once (one torch thread each)")
    run.add_argument("--runs", default="runs/study", help="folder of the run folders")
    run.add_argument("--shard", type=_shard, default=(0, 1), help="i/n: this machine's share")
    run.add_argument("--checkpoint-freq", type=int, default=50_000, help="agent steps")
    run.add_argument("--dry-run", action="store_true", help="print the commands only")
    for name, what in (("pause", "stop"), ("resume", "continue")):
        command = sub.add_parser(
            name, help=f"{what} the runs training into RUNS (quiet benchmarks)"
        )
        command.add_argument("runs", help="the folder given to run --runs")
    report = sub.add_parser("report", help="tables, curves and the aggregate of finished runs")
    report.add_argument("runs", nargs="+", help="folders holding run folders")
    report.add_argument("--out", default="runs/study/report")
    report.add_argument("--window", type=int, default=20, help="training games to average")
    report.add_argument(
        "--target",
        type=_target,
        action="append",
        default=[],
        help="GAME=SCORE for the time-to-score table (default: half the best encoder's final training mean)",
    )
    report.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        if args.command == "run":
            grid = shard(make_grid(args.games, args.encoders, args.seeds, args.algo), *args.shard)
            outcome = run_grid(
                grid, Path(args.runs), args.timesteps, args.jobs, args.checkpoint_freq, args.dry_run
            )
            failed = [name for name, result in outcome.items() if result.startswith("failed")]
            if failed:
                sys.exit(f"failed: {', '.join(failed)} (see {args.runs}/logs/)")
        elif args.command in ("pause", "resume"):
            action = pause if args.command == "pause" else resume
            pids = action(Path(args.runs))
            print(f"{args.command}d {len(pids)} process(es)")
        else:
            write_report(args.runs, Path(args.out), args.window, dict(args.target), args.reps)
    except (UsageError, ValueError) as error:
        sys.exit(f"error: {error}")
