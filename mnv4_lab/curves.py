"""Learning curves of Atari runs (the folders of ``mnv4_lab.runs``): read, smooth, resample, sum up.

A run's Monitor files record every finished training game: its raw score (unclipped, full game
over all lives), its length in emulator frames (the Monitor sits below the frame skip, so one
agent step is about 4 frames) and when it ended. ``examples/plot_learning_curves.py`` and the
study report (``mnv4_lab.study``) both draw from here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .runs import read_episodes, training_seconds

__all__ = ["Curve", "find_runs", "load_curve", "mean_and_spread", "summarise_run"]

FRAMES_PER_STEP = 4  # SB3's AtariWrapper skips 4 emulator frames per agent step


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Every directory at or below ``paths`` with a ``config.json`` and a ``monitor/`` folder."""
    runs = []
    for path in map(Path, paths):
        candidates = [path] + sorted(p.parent for p in path.glob("**/config.json"))
        runs += [
            c for c in candidates if (c / "config.json").is_file() and (c / "monitor").is_dir()
        ]
    return sorted(set(runs))


class Curve:
    """A run's smoothed learning curve: ``steps`` (the agent-step counter when each game ended,
    see :func:`mnv4_lab.runs.read_episodes`), ``seconds`` (training time) and ``returns``
    (moving average over ``window`` games, each value placed at the last game of its window)."""

    def __init__(self, episodes: np.ndarray, window: int) -> None:
        returns = episodes[:, 0]
        k = max(1, min(window, len(returns)))
        self.window = k
        self.returns = np.convolve(returns, np.ones(k) / k, mode="valid")
        self.steps = episodes[k - 1 :, 3]
        self.seconds = episodes[k - 1 :, 2]

    def first_reaching(self, target: float) -> tuple[float, float] | None:
        """(agent steps, seconds) at which the smoothed return first reaches ``target``."""
        hits = np.flatnonzero(self.returns >= target)
        return (float(self.steps[hits[0]]), float(self.seconds[hits[0]])) if hits.size else None


def load_curve(run: Path, window: int) -> Curve | None:
    """The run's :class:`Curve`; None when no game has finished yet."""
    episodes = read_episodes(run)
    return Curve(episodes, window) if len(episodes) else None


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
    """Numbers of one run: frames and games seen, mean raw return of the last ``window`` training
    games, and the final evaluation of ``eval.json`` (NaN when the run has none)."""
    episodes = read_episodes(run)
    evaluation = {}
    if (run / "eval.json").is_file():
        evaluation = json.loads((run / "eval.json").read_text())
    mean = evaluation.get("eval_return_mean")
    std = evaluation.get("eval_return_std")
    seconds = training_seconds(run)  # corrects the first study's paused time
    steps = evaluation.get("timesteps", float("nan"))
    return {
        "frames": float(episodes[:, 1].sum()),
        "episodes": len(episodes),
        "last": float(episodes[-window:, 0].mean()) if len(episodes) else float("nan"),
        "eval_mean": float("nan") if mean is None else mean,
        "eval_std": float("nan") if std is None else std,
        "eval_episodes": evaluation.get("eval_episodes", 0),
        "train_seconds": seconds,
        "steps_per_second": steps / seconds if seconds else float("nan"),
    }
