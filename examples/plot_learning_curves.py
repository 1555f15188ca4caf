"""Learning curves of several Atari runs: episode return against env frames and wall-clock time.

Reads the runs written by ``examples/atari_ppo.py`` / ``examples/atari_dqn.py`` (each run directory
holds ``config.json`` and ``monitor/*.monitor.csv``), groups them by encoder (one line per encoder,
the mean over seeds, shaded between the lowest and highest seed) and writes one PNG with two panels.

    python examples/plot_learning_curves.py runs/ppo_Pong_* --out curves.png

Monitor files record every finished game: its raw score ``r`` (unclipped, full game over all lives),
its length ``l`` in emulator frames (the Monitor sits below the frame skip, so one agent step is
about 4 frames) and its end time ``t`` in seconds since the run started. The curves are smoothed
with a moving average over ``--window`` episodes and resampled onto a common grid for the mean.
A markdown table of each group's numbers (last ``--window`` training episodes, the final evaluation
of ``eval.json``) is printed and written next to the PNG (``.md``).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories (or directories holding them)")
    p.add_argument("--out", default="learning_curves.png")
    p.add_argument("--window", type=int, default=20, help="moving average over episodes")
    p.add_argument("--points", type=int, default=200, help="grid points for the mean")
    p.add_argument("--title", default=None)
    return p.parse_args(argv)


def find_runs(paths: list[str]) -> list[Path]:
    """Every directory at or below ``paths`` with a ``config.json`` and a ``monitor/`` folder."""
    runs = []
    for path in map(Path, paths):
        candidates = [path] + sorted(p.parent for p in path.glob("**/config.json"))
        runs += [
            c for c in candidates if (c / "config.json").is_file() and (c / "monitor").is_dir()
        ]
    return sorted(set(runs))


def read_monitor_files(folder: Path) -> np.ndarray:
    """All episodes of a run's Monitor files as rows (r, l, t), sorted by end time.

    Each file starts with a JSON comment holding its ``t_start`` (Unix time); ``t`` is relative to
    it, so the files are put on one clock, counted from the earliest start.
    """
    starts, tables = [], []
    for path in sorted(folder.glob("*.monitor.csv")):
        with open(path) as handle:
            starts.append(json.loads(handle.readline().lstrip("#"))["t_start"])
            rows = [(float(r["r"]), float(r["l"]), float(r["t"])) for r in csv.DictReader(handle)]
        tables.append(np.array(rows, dtype=float).reshape(-1, 3))
    if not tables:
        return np.zeros((0, 3))
    for start, table in zip(starts, tables, strict=True):
        table[:, 2] += start - min(starts)
    episodes = np.concatenate(tables)
    return episodes[np.argsort(episodes[:, 2], kind="stable")]


def load_curve(run: Path, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(cumulative frames, seconds, smoothed return) of one run's episodes, in order of ending;
    None when no episode has finished yet."""
    episodes = read_monitor_files(run / "monitor")
    if len(episodes) == 0:
        return None
    returns, frames, seconds = episodes[:, 0], np.cumsum(episodes[:, 1]), episodes[:, 2]
    k = max(1, min(window, len(returns)))
    smooth = np.convolve(returns, np.ones(k) / k, mode="valid")
    # Each smoothed value belongs to the last episode of its window.
    return frames[k - 1 :], seconds[k - 1 :], smooth


def mean_and_spread(
    curves: list[tuple[np.ndarray, np.ndarray]], points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Resample (x, y) curves onto a grid up to the shortest run's end: x, mean, min, max."""
    end = min(x[-1] for x, _ in curves)
    start = max(x[0] for x, _ in curves)
    grid = np.linspace(start, end, points) if end > start else np.array([end])
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid, ys.mean(axis=0), ys.min(axis=0), ys.max(axis=0)


def summarise_run(run: Path, window: int) -> dict:
    """Numbers of one run: frames and episodes seen, mean raw return of the last ``window``
    training episodes, and the final evaluation of ``eval.json`` (NaN when the run has none)."""
    episodes = read_monitor_files(run / "monitor")
    evaluation = {}
    if (run / "eval.json").is_file():
        evaluation = json.loads((run / "eval.json").read_text())
    return {
        "frames": float(episodes[:, 1].sum()),
        "episodes": len(episodes),
        "last": float(episodes[-window:, 0].mean()),
        "eval_mean": evaluation.get("eval_return_mean", float("nan")),
        "eval_std": evaluation.get("eval_return_std", float("nan")),
        "eval_episodes": evaluation.get("eval_episodes", 0),
    }


def summary_table(summaries: dict[str, list[dict]], window: int) -> str:
    """Markdown table, one row per group: means over its seeds."""
    lines = [
        f"| run | seeds | env frames in finished episodes | training episodes | mean return, "
        f"last {window} training episodes | final evaluation (mean +/- std over games) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, rows in sorted(summaries.items()):
        mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        evaluation = (
            f"{mean['eval_mean']:.1f} +/- {mean['eval_std']:.1f} ({rows[0]['eval_episodes']} games)"
            if not np.isnan(mean["eval_mean"])
            else "none"
        )
        lines.append(
            f"| {label} | {len(rows)} | {mean['frames']:,.0f} | {mean['episodes']:.0f} | "
            f"{mean['last']:.2f} | {evaluation} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    runs = find_runs(args.runs)
    if not runs:
        raise SystemExit(f"no run directories (config.json + monitor/) under {args.runs}")

    # Group runs by (algo, env, encoder): one line per group, seeds averaged.
    groups: dict[str, list] = defaultdict(list)
    summaries: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        config = json.loads((run / "config.json").read_text())
        curve = load_curve(run, args.window)
        if curve is None:
            print(f"skipped {run}: no finished episode in its Monitor files")
            continue
        label = f"{config['algo']} {config['env']} {config['encoder']}"
        if config.get("pretrained"):
            label += " (pretrained)"
        groups[label].append(curve)
        summaries[label].append(summarise_run(run, args.window))
    if not groups:
        raise SystemExit("no run has a finished episode yet; train longer or lower --window")

    fig, (ax_frames, ax_time) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for label, curves in sorted(groups.items()):
        for ax, index in ((ax_frames, 0), (ax_time, 1)):
            x, mean, low, high = mean_and_spread([(c[index], c[2]) for c in curves], args.points)
            (line,) = ax.plot(x, mean, label=f"{label} ({len(curves)} seed(s))")
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    ax_frames.set_xlabel("env frames (Monitor episode lengths; agent steps x 4)")
    ax_time.set_xlabel("wall-clock seconds")
    ax_frames.set_ylabel(f"episode return (raw score, mean of {args.window} episodes)")
    ax_frames.legend(fontsize=8)
    fig.suptitle(args.title or "Atari learning curves: mean over seeds, band = min..max")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    table = summary_table(summaries, args.window)
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(
        f"wrote {out} and {out.with_suffix('.md')} ({len(groups)} line(s) from {len(runs)} run(s))"
    )
    return out


if __name__ == "__main__":
    main()
