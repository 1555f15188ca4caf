"""The study tools: the grid and its runner's bookkeeping, the statistics (checked against
rliable), pauses left out of training time, and the report on run folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import trim_mean

from mnv4_lab.errors import UsageError
from mnv4_lab.runs import PAUSES, read_episodes
from mnv4_lab.study.cli import main as study_main
from mnv4_lab.study.grid import RunSpec, command, make_grid, shard, status
from mnv4_lab.study.report import collect, write_report
from mnv4_lab.study.stats import (
    HUMAN_RANDOM,
    human_normalised,
    interval_estimates,
    iqm,
    mean,
    stratified_bootstrap,
)

CONFIG = {"algo": "ppo", "timesteps": 1000, "n_envs": 2, "learning_rate": 2.5e-4}


def write_run(
    root: Path, game: str, encoder: str, seed: int, returns: list[float], **config
) -> Path:
    """A finished run folder as the examples write it: Monitor files (two envs) and eval.json."""
    run = root / f"ppo_{game}_{encoder}_s{seed}"
    (run / "monitor").mkdir(parents=True)
    start = 1_700_000_000.0
    for env in range(2):
        lines = [json.dumps({"t_start": start + env, "env_id": game}), "r,l,t"]
        lines += [f"{r},{400},{10.0 * (i + 1)}" for i, r in enumerate(returns[env::2])]
        (run / "monitor" / f"{env}.monitor.csv").write_text("#" + "\n".join(lines) + "\n")
    (run / "config.json").write_text(
        json.dumps({**CONFIG, "env": game, "encoder": encoder, "seed": seed, **config})
    )
    result = {"timesteps": 1000, "eval_episodes": 3, "eval_return_mean": float(np.mean(returns)),
              "eval_return_std": 1.0, "train_seconds": 100.0, "steps_per_second": 10.0}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(result))
    return run


def test_grid_order_shards_and_commands(tmp_path: Path) -> None:
    grid = make_grid(["Breakout", "Seaquest"], ["nature", "nano"], [0, 1], "ppo")
    assert [r.name for r in grid[:4]] == [
        "ppo_Breakout_nature_s0", "ppo_Breakout_nano_s0", "ppo_Seaquest_nature_s0", "ppo_Seaquest_nano_s0",
    ]  # fmt: skip
    assert sorted(shard(grid, 0, 3) + shard(grid, 1, 3) + shard(grid, 2, 3), key=grid.index) == grid
    with pytest.raises(ValueError, match="shard index"):
        shard(grid, 3, 3)
    spec = RunSpec("ppo", "Breakout", "nano", 1)
    assert status(spec, tmp_path) == "new"
    (tmp_path / spec.name).mkdir()
    assert status(spec, tmp_path) == "stale"
    assert command(spec, tmp_path, 200_000, 50_000, "stale")[-1] == "--overwrite"
    (tmp_path / spec.name / "checkpoints").mkdir()
    (tmp_path / spec.name / "checkpoints" / "ppo_50000_steps.zip").write_bytes(b"")
    assert status(spec, tmp_path) == "resume"
    cmd = command(spec, tmp_path, 200_000, 50_000, "resume")
    assert cmd[-1] == "--resume" and cmd[cmd.index("--torch-threads") + 1] == "1"
    (tmp_path / spec.name / "eval.json").write_text("{}")
    assert status(spec, tmp_path) == "done"


def test_statistics_follow_rliable() -> None:
    rng = np.random.default_rng(0)
    scores = {"a": rng.normal(0.3, 0.2, (5, 3)), "b": rng.normal(0.1, 0.2, (5, 3))}
    assert iqm(scores["a"]) == pytest.approx(trim_mean(scores["a"].ravel(), 0.25))
    assert mean(scores["a"]) == pytest.approx(scores["a"].mean())
    ours = {
        k: {"IQM": stratified_bootstrap(v, iqm, 4000), "mean": stratified_bootstrap(v, mean, 4000)}
        for k, v in scores.items()
    }
    theirs = interval_estimates(scores, reps=4000)  # rliable, installed with the lab
    for name in scores:
        for metric in ("IQM", "mean"):
            point, low, high = ours[name][metric]
            assert theirs[name][metric][0] == pytest.approx(point)
            width = high - low
            assert abs(theirs[name][metric][1] - low) < 0.1 * width  # bootstrap noise only
            assert abs(theirs[name][metric][2] - high) < 0.1 * width
    assert human_normalised("Breakout", 30.5) == pytest.approx(1.0)
    assert human_normalised("Breakout", HUMAN_RANDOM["Breakout"][0]) == 0.0
    with pytest.raises(ValueError, match="no reference scores for 'Tetris'"):
        human_normalised("Tetris", 1.0)


def test_pauses_are_left_out_of_training_seconds(tmp_path: Path) -> None:
    run = write_run(tmp_path, "Breakout", "nano", 0, [1.0, 2.0, 3.0, 4.0])
    seconds = read_episodes(run)[:, 2].copy()
    start = 1_700_000_000.0
    (tmp_path / PAUSES).write_text(json.dumps([[start + 12.0, start + 17.0]]))  # 5 s paused
    paused = read_episodes(run)[:, 2]
    assert list(seconds - paused) == [0.0, 0.0, 5.0, 5.0]  # games ending after the pause


def test_report_tables_curves_and_aggregate(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for game, good in (("Breakout", 12.0), ("Seaquest", 400.0)):
        for seed in (0, 1, 2):
            write_run(runs, game, "nature", seed, [good * 0.5 + seed] * 6)
            write_run(runs, game, "nano", seed, [good + seed] * 6)
    write_run(runs, "Breakout", "impala", 0, [3.0] * 6)  # an incomplete encoder: no full seed
    out = tmp_path / "report"
    report = write_report([runs], out, window=2, targets={"Breakout": 6.0}, reps=500)
    for name in (
        "runs.csv",
        "summary.md",
        "aggregate.md",
        "aggregate.json",
        "reach.md",
        "curves.png",
        "aggregate.png",
    ):
        assert (out / name).is_file(), name
    data = json.loads((out / "aggregate.json").read_text())
    assert data["games"] == ["Breakout", "Seaquest"] and data["seeds"] == [0, 1, 2]
    assert set(data["estimates"]) == {"nano", "nature"}  # impala has no complete seed
    nano, nature = data["estimates"]["nano"]["IQM"], data["estimates"]["nature"]["IQM"]
    assert nano[0] > nature[0] and nano[1] <= nano[0] <= nano[2]
    assert "| Breakout | 6 | nano | 3/3 |" in report
    assert set(data["per_game"]) == {"Breakout", "Seaquest"}
    breakout = data["per_game"]["Breakout"]
    assert breakout["seeds"] == {"nano": [0, 1, 2], "nature": [0, 1, 2]}  # impala: one seed
    assert set(breakout["estimates"]) == {"nano", "nature"}
    assert "| Seaquest | nano | 0, 1, 2 |" in report
    uneven = tmp_path / "uneven"  # Seaquest with one seed: per-game estimates for Breakout only
    for seed in (0, 1, 2):
        write_run(uneven, "Breakout", "nano", seed, [12.0 + seed] * 6)
    write_run(uneven, "Seaquest", "nano", 0, [400.0] * 6)
    write_report([uneven], tmp_path / "uneven_report", window=2, reps=200)
    data = json.loads((tmp_path / "uneven_report" / "aggregate.json").read_text())
    assert data["seeds"] == [0] and list(data["per_game"]) == ["Breakout"]
    assert data["per_game"]["Breakout"]["seeds"] == {"nano": [0, 1, 2]}
    uneven_md = (tmp_path / "uneven_report" / "aggregate.md").read_text()
    assert "| nano | " in uneven_md and "[one seed: no interval]" in uneven_md
    assert (tmp_path / "uneven_report" / "aggregate.png").is_file()  # the per-game intervals
    assert "own_seeds" not in data  # nano's only complete seed is the common one
    write_run(uneven, "Breakout", "nature", 0, [6.0] * 6)
    write_run(uneven, "Seaquest", "nature", 0, [200.0] * 6)
    write_run(uneven, "Seaquest", "nano", 1, [410.0] * 6)  # nano: seeds 0 and 1 on both games
    write_report([uneven], tmp_path / "uneven_report", window=2, reps=200)
    data = json.loads((tmp_path / "uneven_report" / "aggregate.json").read_text())
    assert data["seeds"] == [0] and data["own_seeds"]["seeds"] == {"nano": [0, 1]}
    low, high = data["own_seeds"]["estimates"]["nano"]["mean"][1:]
    assert low < high  # two seeds: an interval
    uneven_md = (tmp_path / "uneven_report" / "aggregate.md").read_text()
    assert "| nano | 0, 1 |" in uneven_md
    (runs / "ppo_Pong_nano_s0").mkdir()  # an unfinished run folder is skipped
    write_run(tmp_path / "other", "Breakout", "nano", 5, [1.0] * 4, timesteps=5000)
    with pytest.raises(UsageError, match="differ in 'timesteps'"):
        collect([runs, tmp_path / "other"], window=2)
    with pytest.raises(SystemExit, match="no finished run"):
        study_main(["report", str(tmp_path / "empty"), "--out", str(out)])
