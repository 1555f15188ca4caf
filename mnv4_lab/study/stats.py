"""Aggregate scores with their uncertainty, as rliable computes them (Agarwal et al., NeurIPS 2021,
"Deep Reinforcement Learning at the Edge of the Statistical Precipice").

- Human-normalised score of a run on a game: ``(score - random) / (human - random)``.
- IQM: the mean of the middle 50% of all normalised run scores (runs x games), trimming 25% at
  each end (``scipy.stats.trim_mean(scores, 0.25)``, rliable's definition).
- 95% confidence intervals: percentile intervals of the statistic over stratified bootstrap
  resamples: each game's runs are resampled with replacement, within that game.

:func:`interval_estimates` uses rliable itself when it is installed, and this module's own
bootstrap otherwise; ``tests/test_study.py`` checks that the two agree.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import trim_mean

__all__ = [
    "HUMAN_RANDOM",
    "REFERENCE_SOURCE",
    "human_normalised",
    "interval_estimates",
    "iqm",
    "mean",
    "stratified_bootstrap",
]

REFERENCE_SOURCE = (
    "Badia et al. 2020, 'Agent57: Outperforming the Atari Human Benchmark', appendix table of "
    "human and random scores (the table rliable's Atari analyses normalise with)"
)

#: (random, human) score per game, from :data:`REFERENCE_SOURCE`.
HUMAN_RANDOM: dict[str, tuple[float, float]] = {
    "Alien": (227.8, 7127.7),
    "Asterix": (210.0, 8503.3),
    "BeamRider": (363.9, 16926.5),
    "Boxing": (0.1, 12.1),
    "Breakout": (1.7, 30.5),
    "Enduro": (0.0, 860.5),
    "Freeway": (0.0, 29.6),
    "MsPacman": (307.3, 6951.6),
    "Pong": (-20.7, 14.6),
    "Qbert": (163.9, 13455.0),
    "Seaquest": (68.4, 42054.7),
    "SpaceInvaders": (148.0, 1668.7),
}


def human_normalised(game: str, score: float | np.ndarray) -> float | np.ndarray:
    """``(score - random) / (human - random)`` with the game's reference scores."""
    try:
        random, human = HUMAN_RANDOM[game]
    except KeyError:
        raise ValueError(
            f"no reference scores for {game!r}; known: {', '.join(sorted(HUMAN_RANDOM))}"
        ) from None
    return (np.asarray(score, dtype=float) - random) / (human - random)


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries of a ``(runs, games)`` score matrix."""
    return float(trim_mean(np.asarray(scores, dtype=float).ravel(), 0.25))


def mean(scores: np.ndarray) -> float:
    """Mean of all entries of a ``(runs, games)`` score matrix."""
    return float(np.mean(scores))


def stratified_bootstrap(
    scores: np.ndarray, statistic, reps: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``statistic`` of a ``(runs, games)`` matrix and its percentile confidence interval.

    Each resample draws, for every game separately, ``runs`` of that game's runs with
    replacement (the stratified bootstrap).
    """
    scores = np.asarray(scores, dtype=float)
    runs, games = scores.shape
    rng = np.random.default_rng(seed)
    values = np.empty(reps)
    columns = np.arange(games)
    for i in range(reps):
        rows = rng.integers(0, runs, size=(runs, games))
        values[i] = statistic(scores[rows, columns])
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return statistic(scores), float(low), float(high)


def interval_estimates(
    scores: dict[str, np.ndarray], reps: int = 2000, seed: int = 0
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """IQM and mean with 95% stratified-bootstrap CIs for each encoder's ``(runs, games)`` matrix.

    Returns ``{encoder: {"IQM": (value, low, high), "mean": (...)}}``; rliable computes it when
    installed (``rliable.library.get_interval_estimates``), else :func:`stratified_bootstrap`.
    """
    try:
        from rliable import library as rly
    except Exception:  # not installed, or its arch dependency fails to import (pandas 3)
        rly = None
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    if rly is not None:
        with warnings.catch_warnings():  # rliable hands arch a RandomState, which arch deprecates
            warnings.filterwarnings("ignore", category=FutureWarning, module="arch")
            point, interval = rly.get_interval_estimates(
                scores,
                lambda x: np.array([iqm(x), mean(x)]),
                reps=reps,
                random_state=np.random.RandomState(seed),
            )
        for name in scores:
            results[name] = {
                metric: (float(point[name][i]), *map(float, interval[name][:, i]))
                for i, metric in enumerate(("IQM", "mean"))
            }
        return results
    for name, matrix in scores.items():
        results[name] = {
            "IQM": stratified_bootstrap(matrix, iqm, reps, seed),
            "mean": stratified_bootstrap(matrix, mean, reps, seed),
        }
    return results
