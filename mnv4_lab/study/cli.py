"""``mnv4-rl-study``: train a seeded grid of runs as Ray Tune trials, then report it.

    mnv4-rl-study run --grid carracing --timesteps 300000 --runs runs/study
    mnv4-rl-study run --games Breakout --encoders nature impala nano nano_rl \\
        --seeds 0 1 2 --timesteps 200000 --runs runs/study
    mnv4-rl-study report runs/study --out docs/results/study

``run`` starts a local Ray (or joins a cluster with ``--address auto``) and gives each run one CPU.
Stop it with Ctrl-C; the same command restores the study with Tune's restore: finished runs are
skipped, the others continue from their last checkpoint. See docs/studies.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .grid import GRIDS, make_grid
from .report import write_report

_DEFAULT_ENCODERS = ["nature", "impala", "nano", "nano_rl"]


def _target(text: str) -> tuple[str, float]:
    game, _, value = text.partition("=")
    try:
        return game, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected GAME=SCORE, e.g. Breakout=5, got {text!r}"
        ) from None


def _setting(text: str) -> tuple[str, object]:
    from .grid import _value

    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. n_envs=2, got {text!r}")
    return key, _value(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the grid on Ray Tune (resumes a stopped study)")
    run.add_argument("--grid", choices=sorted(GRIDS), help="a named grid (docs/studies.md)")
    run.add_argument("--games", nargs="+", help="games/envs, e.g. Breakout CarRacing-v3 Pong:rgb")
    run.add_argument(
        "--encoders", nargs="+", help=f"encoder specs (default {' '.join(_DEFAULT_ENCODERS)})"
    )
    run.add_argument("--seeds", nargs="+", type=int, help="default 0 1 2")
    run.add_argument("--algo", default="ppo", choices=["ppo"])
    run.add_argument("--timesteps", type=int, default=200_000, help="agent steps per run")
    run.add_argument("--runs", default="runs/study", help="folder of the run folders")
    run.add_argument("--checkpoint-freq", type=int, default=50_000, help="agent steps")
    run.add_argument("--address", default=None, help="Ray cluster to join ('auto'); default local")
    run.add_argument("--num-cpus", type=int, default=None, help="local Ray's CPUs (default all)")
    run.add_argument("--cpus-per-trial", type=float, default=1.0)
    run.add_argument("--max-concurrent", type=int, default=0, help="0: as many as CPUs allow")
    run.add_argument("--max-failures", type=int, default=2, help="restarts of a failing trial")
    run.add_argument(
        "--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
        help="replace a protocol setting (recorded in config.json), e.g. n_envs=2",
    )  # fmt: skip
    run.add_argument("--dry-run", action="store_true", help="list the runs only")
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
            games, encoders, seeds = GRIDS[args.grid] if args.grid else (None, None, None)
            games = args.games or games
            if not games:
                raise UsageError("pass --grid NAME or --games GAME [GAME...]")
            grid = make_grid(
                games, args.encoders or encoders or _DEFAULT_ENCODERS,
                args.seeds or seeds or [0, 1, 2], args.algo,
            )  # fmt: skip
            if args.dry_run:
                for spec in grid:
                    done = (Path(args.runs) / spec.name / "eval.json").is_file()
                    print(f"{'done' if done else 'todo'}  {spec.name}")
                return
            from .engine import run_study

            outcome = run_study(
                grid,
                Path(args.runs),
                args.timesteps,
                args.checkpoint_freq,
                address=args.address,
                num_cpus=args.num_cpus,
                cpus_per_trial=args.cpus_per_trial,
                max_concurrent=args.max_concurrent,
                max_failures=args.max_failures,
                overrides=dict(args.set),
            )
            for name, result in outcome.items():
                print(f"{result}: {name}")
            failed = [name for name, result in outcome.items() if result.startswith("failed")]
            if failed:
                sys.exit(f"failed: {', '.join(failed)} (see {args.runs}/_tune/)")
        else:
            write_report(args.runs, Path(args.out), args.window, dict(args.target), args.reps)
    except (UsageError, ValueError) as error:
        sys.exit(f"error: {error}")
