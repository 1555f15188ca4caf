"""Learning curves of several Atari runs: episode return against env frames and wall-clock time.

Reads the runs written by ``examples/atari_ppo.py`` / ``examples/atari_dqn.py`` (each run directory
holds ``config.json`` and ``monitor/*.monitor.csv``), groups them by encoder (one line per encoder,
the mean over seeds, shaded between the lowest and highest seed) and writes one PNG with two panels.

    python examples/plot_learning_curves.py runs/ppo_Pong_* --out curves.png

The curves (``mnv4_lab.curves``) are the raw scores of finished training games, smoothed with a
moving average over ``--window`` games, against agent steps and training seconds, resampled onto
a common grid for the mean.
A markdown table of each group's numbers (last ``--window`` training episodes, the final evaluation
of ``eval.json``) is printed and written next to the PNG (``.md``).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mnv4_lab.curves import find_runs, load_curve, mean_and_spread, summarise_run  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories (or directories holding them)")
    p.add_argument("--out", default="learning_curves.png")
    p.add_argument("--window", type=int, default=20, help="moving average over episodes")
    p.add_argument("--points", type=int, default=200, help="grid points for the mean")
    p.add_argument("--title", default=None)
    return p.parse_args(argv)


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
        for ax, axis in ((ax_frames, "steps"), (ax_time, "seconds")):
            pairs = [(getattr(c, axis), c.returns) for c in curves]
            x, mean, low, high = mean_and_spread(pairs, args.points)
            (line,) = ax.plot(x, mean, label=f"{label} ({len(curves)} seed(s))")
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    ax_frames.set_xlabel("agent steps (Monitor episode lengths / 4)")
    ax_time.set_xlabel("training seconds")
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
