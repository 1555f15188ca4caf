"""The study's report: per-run results, per-game curves, the aggregate with confidence intervals,
and the time each encoder took to reach a score.

Files written to the output folder:

- ``runs.csv``: one row per run (game, encoder, seed, games played, mean of the last ``window``
  training games, final evaluation, evaluation with the appearance changed, training seconds,
  agent steps per second);
- ``summary.md``: per game and encoder, means over seeds (raw and human-normalised where the game
  has reference scores), the score kept when the appearance changes, the score at equal agent
  steps and at equal training seconds, and the run notes (``notes.json`` beside the runs);
- ``aggregate.md`` / ``aggregate.json``: IQM and mean human-normalised final evaluation score per
  encoder, with 95% stratified-bootstrap confidence intervals (:mod:`mnv4_lab.study.stats`), over
  the seeds complete on every game, then per game over that game's complete seeds (raw scores for
  games without reference scores, e.g. CarRacing-v3);
- ``reach.md``: agent steps (the runs' agent-step counter) and training seconds until the
  smoothed training return first reaches each game's target score;
- ``curves.png``: per game, return against agent steps and against training seconds (mean over
  seeds, band from the lowest to the highest seed); ``aggregate.png``: the interval estimates.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..curves import Curve, find_runs, load_curve, mean_and_spread, summarise_run
from ..errors import UsageError
from .stats import HUMAN_RANDOM, REFERENCE_SOURCE, human_normalised, interval_estimates

__all__ = ["RunRecord", "collect", "write_report"]

# Arguments that do not change what a run learns: runs that differ only in these are comparable.
_NOT_PROTOCOL = {
    "encoder", "env", "seed", "log_dir", "run_name", "resume", "overwrite", "checkpoint_freq",
    "no_progress_bar", "no_tensorboard", "torch_threads", "device", "tune_malloc",
    "subproc_envs", "features_dim", "pretrained",
}  # fmt: skip
#: Beside the run folders: ``{run folder name: note}``, printed under the summary.
NOTES = "notes.json"
#: A per-game interval over few seeds: what it is (the percentile bootstrap of a mean over n
#: values spans at most their min..max, and with 3 seeds it is exactly that, IQM included).
FEW_SEEDS_NOTE = (
    "With 3 seeds, a per-game 95% percentile-bootstrap interval of the mean (and of the IQM, "
    "which trims nothing from 3 values) is the min..max of the seeds: read it as the seeds' "
    "range, not as a confidence interval."
)


@dataclass
class RunRecord:
    """One finished run: where it is, what it was, and what it did."""

    path: Path
    config: dict
    summary: dict
    curve: Curve

    @property
    def game(self) -> str:
        return self.config["env"]

    @property
    def encoder(self) -> str:
        return self.config["encoder"]

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def evaluation(self) -> dict:
        """The run's ``eval.json``."""
        return json.loads((self.path / "eval.json").read_text())


def collect(paths: list[str | Path], window: int) -> list[RunRecord]:
    """Every finished run (``eval.json`` written) at or below ``paths``; refuses to mix protocols.

    Raises:
        UsageError: no finished run, or runs whose learning settings differ (the message names
            the setting).
    """
    records = []
    for run in find_runs(paths):
        curve = load_curve(run, window)
        if not (run / "eval.json").is_file() or curve is None:
            continue
        config = json.loads((run / "config.json").read_text())
        records.append(RunRecord(run, config, summarise_run(run, window), curve))
    if not records:
        raise UsageError(f"no finished run (config.json, monitor/ and eval.json) under {paths}")
    reference = records[0]
    for record in records[1:]:
        for key in (reference.config.keys() | record.config.keys()) - _NOT_PROTOCOL:
            if reference.config.get(key) != record.config.get(key):
                raise UsageError(
                    f"{record.path} and {reference.path} differ in {key!r} "
                    f"({record.config.get(key)!r} vs {reference.config.get(key)!r}); report runs "
                    "of one protocol at a time"
                )
    return sorted(records, key=lambda r: (r.game, r.encoder, r.seed))


def _comparable(records: list[RunRecord]) -> tuple[list[str], list[str], list[int]]:
    """(games, encoders, seeds) of the aggregate: the encoders with runs on every game, and the
    seeds for which each of those encoders has a finished run on every game."""
    games = sorted({r.game for r in records})
    done = {(r.game, r.encoder, r.seed) for r in records}
    cells = {(g, e) for g, e, _ in done}
    encoders = [
        e for e in sorted({r.encoder for r in records}) if all((g, e) in cells for g in games)
    ]
    seeds = [
        s
        for s in sorted({r.seed for r in records})
        if all((g, e, s) in done for g in games for e in encoders)
    ]
    return games, encoders, seeds


def _score_matrices(
    records: list[RunRecord], games: list[str], encoders: list[str], seeds: list[int]
) -> dict[str, np.ndarray]:
    """Per encoder, the ``(seeds, games)`` matrix of human-normalised final evaluation scores."""
    by_cell = {(r.game, r.encoder, r.seed): r for r in records}
    return {
        encoder: np.array(
            [
                [_score(g, by_cell[(g, encoder, s)].summary["eval_mean"]) for g in games]
                for s in seeds
            ]
        )
        for encoder in encoders
    }


def _score(game: str, value: float) -> float:
    """Human-normalised where the game has reference scores; the raw score otherwise."""
    return float(human_normalised(game, value)) if game in HUMAN_RANDOM else float(value)


def _write_runs_csv(records: list[RunRecord], path: Path) -> None:
    fields = ["game", "encoder", "seed", "episodes", "last", "eval_mean", "eval_std"]
    fields += ["appearance_mean", "train_seconds", "steps_per_second", "folder"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for r in records:
            s = r.summary
            writer.writerow(
                [r.game, r.encoder, r.seed, s["episodes"], f"{s['last']:.3f}"]
                + [f"{s['eval_mean']:.3f}", f"{s['eval_std']:.3f}", _appearance(r)]
                + [f"{s['train_seconds']:.1f}", f"{s['steps_per_second']:.2f}", r.path.name]
            )


def _summary_table(records: list[RunRecord], window: int) -> str:
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[(r.game, r.encoder)].append(r)
    lines = [
        f"| game | encoder | seeds | last {window} training games (mean over seeds) | final "
        "evaluation (mean over seeds) | human-normalised evaluation | per seed (evaluation) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for (game, encoder), rows in sorted(groups.items()):
        last = np.mean([r.summary["last"] for r in rows])
        evals = [r.summary["eval_mean"] for r in rows]
        per_seed = ", ".join(f"s{r.seed}: {r.summary['eval_mean']:.1f}" for r in rows)
        lines.append(
            f"| {game} | {encoder} | {len(rows)} | {last:.2f} | {np.mean(evals):.2f} | "
            f"{_normalised_cell(game, evals)} | {per_seed} |"
        )
    return "\n".join(lines)


def _normalised_cell(game: str, evals: list[float]) -> str:
    if game not in HUMAN_RANDOM:
        return "-"
    return f"{float(np.mean(human_normalised(game, evals))):.3f}"


def _appearance(record: RunRecord) -> str:
    value = record.evaluation.get("appearance_return_mean")
    return "" if value is None else f"{value:.3f}"


def _appearance_table(records: list[RunRecord]) -> str:
    """Per game and encoder: the evaluation with the appearance changed, and the score kept (the
    mean over seeds of that evaluation over the mean of the plain one)."""
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.evaluation.get("appearance_return_mean") is not None:
            groups[(r.game, r.encoder)].append(r)
    if not groups:
        return "No run has an evaluation with the appearance changed (the first study had none)."
    lines = [
        "Change of appearance (CarRacing-v3: `domain_randomize=True`; Atari: every frame's hue "
        "turned 180 degrees). Score kept = mean over seeds of the changed evaluation / mean over "
        "seeds of the plain one (meaningful when the plain mean is clearly positive).",
        "",
        "| game | encoder | seeds | evaluation | changed appearance | score kept | per seed "
        "(changed) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for (game, encoder), rows in sorted(groups.items()):
        plain = float(np.mean([r.summary["eval_mean"] for r in rows]))
        changed = float(np.mean([r.evaluation["appearance_return_mean"] for r in rows]))
        kept = f"{changed / plain:.2f}" if plain > 0 else "- (plain mean <= 0)"
        per_seed = ", ".join(
            f"s{r.seed}: {r.evaluation['appearance_return_mean']:.1f}" for r in rows
        )
        lines.append(
            f"| {game} | {encoder} | {len(rows)} | {plain:.2f} | {changed:.2f} | {kept} | "
            f"{per_seed} |"
        )
    return "\n".join(lines)


def _equal_budget_table(records: list[RunRecord]) -> str:
    """Per game: each encoder's smoothed training score (mean over seeds) at the same agent steps
    and at the same training seconds: the most every run of the game reached."""
    lines = [
        "Score per agent step and per wall-clock second: the smoothed training score (mean over "
        "seeds) at the largest agent-step count and the largest training time every run of the "
        "game reached (training seconds on this study's machine, one torch thread per run).",
        "",
        "| game | encoder | seeds | agent steps/s (median) | score at equal agent steps | "
        "score at equal training seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for game in sorted({r.game for r in records}):
        rows = [r for r in records if r.game == game]
        steps = min(r.curve.steps[-1] for r in rows)
        seconds = min(r.curve.seconds[-1] for r in rows)
        for encoder in sorted({r.encoder for r in rows}):
            mine = [r for r in rows if r.encoder == encoder]
            at_steps = np.mean([np.interp(steps, r.curve.steps, r.curve.returns) for r in mine])
            at_seconds = np.mean(
                [np.interp(seconds, r.curve.seconds, r.curve.returns) for r in mine]
            )
            speed = np.median([r.summary["steps_per_second"] for r in mine])
            lines.append(
                f"| {game} | {encoder} | {len(mine)} | {speed:.1f} | {at_steps:.2f} at "
                f"{steps:,.0f} | {at_seconds:.2f} at {seconds:,.0f} s |"
            )
    return "\n".join(lines)


def _notes(paths: list[str | Path], records: list[RunRecord]) -> str:
    """The notes of ``notes.json`` files beside the runs, for runs in the report."""
    names = {r.path.name for r in records}
    notes = {}
    for path in map(Path, paths):
        for file in [path / NOTES, *path.glob(f"**/{NOTES}")]:
            if file.is_file():
                notes.update(json.loads(file.read_text()))
    found = [f"- `{name}`: {text}" for name, text in sorted(notes.items()) if name in names]
    return "\n".join(["Run notes:", "", *found]) if found else ""


def _per_game(records: list[RunRecord], reps: int) -> tuple[list[str], dict]:
    """Per game and encoder, over all of that encoder's seeds on the game (two or more): the same
    estimates one game at a time, so a game with more seeds than the others keeps them."""
    lines = ["", "Per game, each encoder over all its seeds on that game. " + FEW_SEEDS_NOTE, ""]
    lines += [
        "| game | encoder | seeds | IQM [95% CI] | mean [95% CI] |",
        "|---|---|---|---:|---:|",
    ]
    data: dict[str, dict] = {}
    for game in sorted({r.game for r in records}):
        seeds_of: dict[str, list[int]] = defaultdict(list)
        for r in records:
            if r.game == game:
                seeds_of[r.encoder].append(r.seed)
        matrices, seeds = {}, {}
        for encoder, encoder_seeds in sorted(seeds_of.items()):
            if len(encoder_seeds) >= 2:  # one seed has no spread to bootstrap
                seeds[encoder] = sorted(encoder_seeds)
                matrices |= _score_matrices(records, [game], [encoder], seeds[encoder])
        if not matrices:
            continue
        estimates = interval_estimates(matrices, reps=reps)
        data[game] = {"seeds": seeds, "estimates": estimates}
        for encoder, metrics in estimates.items():
            cells = [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in metrics.values()]
            seed_list = ", ".join(map(str, seeds[encoder]))
            lines.append(f"| {game} | {encoder} | {seed_list} | {cells[0]} | {cells[1]} |")
    return (lines if data else []), data


def _own_seeds(
    records: list[RunRecord], games: list[str], encoders: list[str], common: list[int], reps: int
) -> tuple[list[str], dict]:
    """Per encoder, over every seed it has finished on every game (two or more), when that is
    more than the seeds common to all encoders: intervals for the encoders that have them, at the
    price of a comparison that is no longer matched seed for seed."""
    done = {(r.game, r.encoder, r.seed) for r in records}
    seeds = {
        encoder: [
            s
            for s in sorted({r.seed for r in records if r.encoder == encoder})
            if all((g, encoder, s) in done for g in games)
        ]
        for encoder in encoders
    }
    seeds = {e: found for e, found in seeds.items() if len(found) >= 2 and found != common}
    if not seeds:
        return [], {}
    matrices: dict[str, np.ndarray] = {}
    for encoder, found in seeds.items():
        matrices |= _score_matrices(records, games, [encoder], found)
    estimates = interval_estimates(matrices, reps=reps)
    lines = [
        "",
        f"Each encoder over all of its seeds finished on every game ({', '.join(games)}), where "
        "that is more than the seeds above (seed counts differ between encoders: not a matched "
        "comparison):",
        "",
        "| encoder | seeds | IQM [95% CI] | mean [95% CI] |",
        "|---|---|---:|---:|",
    ]
    for encoder, metrics in estimates.items():
        cells = [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in metrics.values()]
        lines.append(
            f"| {encoder} | {', '.join(map(str, seeds[encoder]))} | {cells[0]} | {cells[1]} |"
        )
    return lines, {"seeds": seeds, "estimates": estimates}


def _aggregate(records: list[RunRecord], reps: int) -> tuple[str, dict]:
    games, encoders, seeds = _comparable(records)
    left_out = sorted({r.encoder for r in records} - set(encoders))
    per_game_lines, per_game = _per_game(records, reps)
    if not seeds or not encoders:
        head = "No seed is complete for every game and encoder yet."
        return "\n".join([head, *per_game_lines]), ({"per_game": per_game} if per_game else {})
    estimates = interval_estimates(_score_matrices(records, games, encoders, seeds), reps=reps)
    lines = [
        f"Final evaluation score (human-normalised where the game has reference scores, raw "
        f"otherwise) over {len(games)} game(s) "
        f"({', '.join(games)}) x {len(seeds)} seed(s) ({', '.join(map(str, seeds))}) per encoder; "
        f"95% stratified-bootstrap confidence intervals, {reps} resamples. Reference scores: "
        f"{REFERENCE_SOURCE}."
        + (f" Not in the aggregate (a game missing): {', '.join(left_out)}." if left_out else ""),
        "",
        "| encoder | IQM [95% CI] | mean [95% CI] |",
        "|---|---:|---:|",
    ]
    for encoder, metrics in estimates.items():
        if len(seeds) < 2:  # resampling one run per game gives that run back: no interval
            cells = [f"{v:.3f} [one seed: no interval]" for v, _, _ in metrics.values()]
        else:
            cells = [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in metrics.values()]
        lines.append(f"| {encoder} | {cells[0]} | {cells[1]} |")
    own_lines, own = _own_seeds(records, games, encoders, seeds, reps)
    data = {"games": games, "seeds": seeds, "reps": reps, "estimates": estimates}
    if own:
        data["own_seeds"] = own
    if per_game:
        data["per_game"] = per_game
    return "\n".join(lines + own_lines + per_game_lines), data


def _default_targets(records: list[RunRecord]) -> dict[str, float]:
    """Per game: half the best encoder's mean (over seeds) of its last training games."""
    best: dict[str, float] = {}
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        groups[(r.game, r.encoder)].append(r.summary["last"])
    for (game, _), values in groups.items():
        best[game] = max(best.get(game, -np.inf), float(np.mean(values)))
    return {game: round(value / 2, 1) for game, value in best.items()}


def _reach_table(records: list[RunRecord], targets: dict[str, float]) -> str:
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[(r.game, r.encoder)].append(r)
    lines = [
        "| game | target | encoder | seeds reaching it | agent steps (median) | training "
        "seconds (median) | agent steps/s (median) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for (game, encoder), rows in sorted(groups.items()):
        target = targets.get(game)
        if target is None:
            continue
        hits = [h for r in rows if (h := r.curve.first_reaching(target)) is not None]
        steps = f"{np.median([h[0] for h in hits]):,.0f}" if hits else "-"
        seconds = f"{np.median([h[1] for h in hits]):,.0f}" if hits else "-"
        speed = np.median([r.summary["steps_per_second"] for r in rows])
        lines.append(
            f"| {game} | {target:g} | {encoder} | {len(hits)}/{len(rows)} | {steps} | "
            f"{seconds} | {speed:.1f} |"
        )
    return "\n".join(lines)


def _plot_curves(records: list[RunRecord], path: Path, window: int, points: int = 200) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = sorted({r.game for r in records})
    encoders = sorted({r.encoder for r in records})
    fig, axes = plt.subplots(2, len(games), figsize=(5 * len(games), 7.5), squeeze=False)
    colours = dict(zip(encoders, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for column, game in enumerate(games):
        for encoder in encoders:
            curves = [r.curve for r in records if r.game == game and r.encoder == encoder]
            if not curves:
                continue
            for row, axis in enumerate(("steps", "seconds")):
                pairs = [(getattr(c, axis), c.returns) for c in curves]
                x, mean, low, high = mean_and_spread(pairs, points)
                ax = axes[row][column]
                label = f"{encoder} ({len(curves)} seed{'' if len(curves) == 1 else 's'})"
                ax.plot(x, mean, color=colours[encoder], label=label)
                ax.fill_between(x, low, high, color=colours[encoder], alpha=0.15)
        axes[0][column].set_title(game)
        axes[0][column].set_xlabel("agent steps")
        axes[1][column].set_xlabel("training seconds (this machine, see the README)")
        axes[0][column].set_ylabel(f"raw score, mean of {window} training games")
        axes[1][column].set_ylabel(f"raw score, mean of {window} training games")
        axes[0][column].legend(fontsize=8)
    fig.suptitle("PPO learning curves: mean over seeds, band = lowest..highest seed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_aggregate(data: dict, path: Path) -> None:
    """IQM and mean with their intervals: over all games (when two or more seeds are complete on
    every game), then per game."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if len(data.get("seeds", [])) >= 2:
        panels.append((f"all games, {len(data['seeds'])} seeds", data["estimates"]))
    for game, entry in data.get("per_game", {}).items():
        panels.append((game, entry["estimates"]))
    encoders = sorted({e for _, estimates in panels for e in estimates})
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(9, len(panels) * (0.5 * len(encoders) + 1.2)), squeeze=False
    )
    for row, (title, estimates) in enumerate(panels):
        for ax, metric in zip(axes[row], ("IQM", "mean"), strict=True):
            for y, encoder in enumerate(encoders):
                if encoder not in estimates:
                    continue
                value, low, high = estimates[encoder][metric]
                ax.plot([low, high], [y, y], linewidth=6, alpha=0.5)
                ax.plot([value], [y], "k|", markersize=14)
            ax.set_title(f"{title}: {metric} human-normalised score", fontsize=9)
            ax.set_yticks(range(len(encoders)), encoders)
            ax.axvline(0.0, color="grey", linewidth=0.5)
    fig.suptitle("95% stratified-bootstrap confidence intervals")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    paths: list[str | Path],
    out: Path,
    window: int = 20,
    targets: dict[str, float] | None = None,
    reps: int = 2000,
) -> str:
    """Write every file of the report (module docstring) to ``out``; return the markdown."""
    records = collect(paths, window)
    out.mkdir(parents=True, exist_ok=True)
    _write_runs_csv(records, out / "runs.csv")
    targets = {**_default_targets(records), **(targets or {})}
    parts = [
        _summary_table(records, window),
        _equal_budget_table(records),
        _appearance_table(records),
        _notes(paths, records),
    ]
    summary = "\n\n".join(part for part in parts if part)
    aggregate, data = _aggregate(records, reps)
    reach = _reach_table(records, targets)
    (out / "summary.md").write_text(summary + "\n")
    (out / "aggregate.md").write_text(aggregate + "\n")
    (out / "aggregate.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "reach.md").write_text(reach + "\n")
    _plot_curves(records, out / "curves.png", window)
    if len(data.get("seeds", [])) >= 2 or data.get("per_game"):
        _plot_aggregate(data, out / "aggregate.png")
    report = "\n\n".join([summary, aggregate, reach])
    print(report)
    print(f"\nwrote {out} ({len(records)} runs)")
    return report
