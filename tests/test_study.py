"""The study: grid and encoder specs, RGB envs and the change of appearance, the accounting of
run folders (the first study's corrections and the new records), the statistics (checked against
rliable), the report, and real Ray Tune studies that are stopped and restored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import trim_mean

from mnv4_lab.curves import summarise_run
from mnv4_lab.envs import HueRotation, hue_rotate, make_envs
from mnv4_lab.errors import UsageError
from mnv4_lab.runs import AGENT_STEPS, PAUSES, read_episodes, training_seconds
from mnv4_lab.study.cli import main as study_main
from mnv4_lab.study.grid import GRIDS, RunSpec, make_grid, parse_encoder_spec
from mnv4_lab.study.report import collect, write_report
from mnv4_lab.study.stats import (
    HUMAN_RANDOM,
    human_normalised,
    interval_estimates,
    iqm,
    mean,
    stratified_bootstrap,
)
from mnv4_lab.study.trial import train_run

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "results" / "study" / "runs"
CONFIG = {"algo": "ppo", "timesteps": 1000, "n_envs": 2, "learning_rate": 2.5e-4}
START = 1_700_000_000.0


def write_run(
    root: Path, game: str, encoder: str, seed: int, returns: list[float], **config
) -> Path:
    """A finished run folder of the first study's kind: Monitor files (two envs), eval.json."""
    run = root / f"ppo_{game}_{encoder}_s{seed}"
    (run / "monitor").mkdir(parents=True)
    for env in range(2):
        lines = [json.dumps({"t_start": START + env, "env_id": game}), "r,l,t"]
        lines += [f"{r},{400},{10.0 * (i + 1)}" for i, r in enumerate(returns[env::2])]
        (run / "monitor" / f"{env}.monitor.csv").write_text("#" + "\n".join(lines) + "\n")
    (run / "config.json").write_text(
        json.dumps({**CONFIG, "env": game, "encoder": encoder, "seed": seed, **config})
    )
    result = {"timesteps": 1000, "eval_episodes": 3, "eval_return_mean": float(np.mean(returns)),
              "eval_return_std": 1.0, "train_seconds": 100.0, "steps_per_second": 10.0}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(result))
    return run


def _monitor(folder: Path, start: float, rows: list[tuple[float, float, float]], env: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"t_start": start}), "r,l,t"] + [",".join(map(str, row)) for row in rows]
    (folder / f"{env}.monitor.csv").write_text("#" + "\n".join(lines) + "\n")


# --- Grid and encoder specs ------------------------------------------------------------------


def test_grid_order_and_encoder_specs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    grid = make_grid(["Breakout", "Seaquest"], ["nature", "nano"], [0, 1], "ppo")
    assert [r.name for r in grid[:4]] == [
        "ppo_Breakout_nature_s0", "ppo_Breakout_nano_s0", "ppo_Seaquest_nature_s0", "ppo_Seaquest_nano_s0",
    ]  # fmt: skip
    spec = parse_encoder_spec("frozen:nano@pretrained=true,norm=frozen")
    assert (spec.name, spec.frozen, spec.options) == (
        "nano",
        True,
        {"pretrained": True, "norm": "frozen"},
    )
    assert parse_encoder_spec("nano@augment=shift").options == {"augment": "shift"}
    assert RunSpec("ppo", "CarRacing-v3", "frozen:nano@pretrained=true", 2).name == (
        "ppo_CarRacing-v3_frozen-nano+pretrained_s2"
    )
    assert RunSpec("ppo", "Breakout:rgb", "nano@augment=shift", 0).name == (
        "ppo_Breakout-rgb_nano+augment-shift_s0"
    )
    carracing = GRIDS["carracing"]
    assert carracing[1] == [
        "nature", "impala", "nano", "nano@pretrained=true,encoder_lr_scale=0.1",
        "frozen:nano@pretrained=true",
    ] and carracing[2] == [0, 1, 2]  # fmt: skip
    assert RunSpec("ppo", "CarRacing-v3", carracing[1][3], 0).name == (
        "ppo_CarRacing-v3_nano+pretrained+encoder_lr_scale-0.1_s0"
    )
    with pytest.raises(UsageError, match="needs pretrained weights"):
        parse_encoder_spec("frozen:nano")
    with pytest.raises(UsageError, match="is not key=value"):
        parse_encoder_spec("nano@shift")
    with pytest.raises(UsageError, match="PPO only"):
        make_grid(["Breakout"], ["nano"], [0], "dqn")
    with pytest.raises(UsageError, match="unknown env suffix"):
        make_grid(["Breakout:hsv"], ["nano"], [0], "ppo")
    (tmp_path / "ppo_CarRacing-v3_nature_s0").mkdir()
    (tmp_path / "ppo_CarRacing-v3_nature_s0" / "eval.json").write_text("{}")
    study_main(["run", "--grid", "carracing", "--runs", str(tmp_path), "--dry-run"])
    listed = capsys.readouterr().out.splitlines()
    assert listed[:2] == ["done  ppo_CarRacing-v3_nature_s0", "todo  ppo_CarRacing-v3_impala_s0"]
    assert len(listed) == 15


# --- RGB envs and the change of appearance -----------------------------------------------------


def test_hue_rotation() -> None:
    pure = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], dtype=np.uint8)
    turned = hue_rotate(pure, 120.0)
    assert turned[0, :3].tolist() == [[0, 255, 0], [0, 0, 255], [255, 0, 0]]  # R->G->B->R
    assert turned[0, 3].tolist() == [128, 128, 128]  # gray has no hue
    frames = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    assert np.abs(hue_rotate(frames, 360.0).astype(int) - frames).max() <= 1  # rounding only
    with pytest.raises(ValueError, match="RGB uint8"):
        hue_rotate(frames.astype(np.float32))
    # Atari: the rotation sits before the gray conversion, so gray frames change too.
    plain, turned_env = (
        make_envs("Breakout", 1, 0),
        make_envs("Breakout", 1, 0, changed_appearance=True),
    )
    a, b = plain.reset(), turned_env.reset()
    assert a.shape == b.shape == (1, 84, 84, 4) and np.abs(a.astype(int) - b).mean() > 1.0
    rgb = make_envs("Breakout:rgb", 1, 0)
    assert rgb.reset().shape == (1, 84, 84, 12)
    import gymnasium as gym

    with pytest.raises(ValueError, match="obs_type='rgb'"):
        HueRotation(gym.make("BreakoutNoFrameskip-v4", obs_type="grayscale"))


def test_carracing_rgb_frames_and_domain_randomize() -> None:
    venv = make_envs("CarRacing-v3", 1, 0)
    obs = venv.reset()
    assert obs.shape == (1, 96, 96, 6) and obs.dtype == np.uint8  # 2 stacked RGB frames
    obs, reward, done, _ = venv.step(np.array([[0.0, 1.0, 0.0]], dtype=np.float32))
    assert obs.shape == (1, 96, 96, 6) and reward.shape == (1,)
    changed = make_envs("CarRacing-v3", 1, 0, changed_appearance=True).reset()
    # Same seed, same track; grass and track recoloured: the mean colour moves.
    assert np.abs(obs[0, ..., 3:].mean((0, 1)) - changed[0, ..., 3:].mean((0, 1))).max() > 5.0


# --- Accounting ---------------------------------------------------------------------------------


def test_pauses_are_left_out_of_training_seconds(tmp_path: Path) -> None:
    run = write_run(tmp_path, "Breakout", "nano", 0, [1.0, 2.0, 3.0, 4.0])
    seconds = read_episodes(run)[:, 2].copy()
    (tmp_path / PAUSES).write_text(json.dumps([[START + 12.0, START + 17.0]]))  # 5 s paused
    paused = read_episodes(run)[:, 2]
    assert list(seconds - paused) == [0.0, 0.0, 5.0, 5.0]  # games ending after the pause
    assert training_seconds(run) == pytest.approx(95.0)


def _legacy_resumed_run(root: Path) -> Path:
    """A first-study run resumed once, with a 50 s pause before its checkpoint.

    Segment 0 starts at START, is paused 20..70 s, checkpoints at 100 s (50 s of training, 500
    steps), and is killed at 130 s; a game ended at 90 s (before the checkpoint) and one at 120 s
    (after: played again in segment 1). Segment 1 starts at 1000 s and trains 60 s to 1000 steps.
    """
    run = root / "ppo_Breakout_impala_s1"
    _monitor(run / "monitor", START, [(1.0, 400, 90.0), (2.0, 400, 120.0)])
    _monitor(run / "monitor_r1", START + 1000.0, [(3.0, 400, 30.0), (4.0, 400, 60.0)])
    (root / PAUSES).write_text(json.dumps([[START + 20.0, START + 70.0]]))
    resume = [{"checkpoint": "ppo_500_steps.zip", "steps": 500, "saved_at": START + 100.0,
               "elapsed_seconds": 100.0}]  # the old value: the 50 s pause counted  # fmt: skip
    (run / "resume.json").write_text(json.dumps(resume))
    result = {"timesteps": 1000, "eval_episodes": 1, "eval_return_mean": 1.0,
              "eval_return_std": 0.0, "train_seconds": 160.0, "steps_per_second": 1000 / 160}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(result))
    (run / "config.json").write_text(
        json.dumps({**CONFIG, "env": "Breakout", "encoder": "impala", "seed": 1})
    )
    return run


def test_first_study_resumes_read_without_pauses_or_replayed_games(tmp_path: Path) -> None:
    run = _legacy_resumed_run(tmp_path)
    # Training seconds: 50 before the checkpoint (100 less the 50 s pause) + 60 after it.
    assert training_seconds(run) == pytest.approx(110.0)
    assert summarise_run(run, 2)["steps_per_second"] == pytest.approx(1000 / 110.0)
    episodes = read_episodes(run)
    # The game that ended at 120 s came after the checkpoint: once, in segment 1, not twice
    # (its pause-adjusted time, 70 s, is before the checkpoint's unadjusted 100 s).
    assert episodes[:, 0].tolist() == [1.0, 3.0, 4.0]
    assert episodes[:, 2].tolist() == pytest.approx([40.0, 80.0, 110.0])
    # Agent steps: interpolated in training seconds, 0..500 then 500..1000; never past 1000.
    assert episodes[:, 3].tolist() == pytest.approx([400.0, 750.0, 1000.0])


def test_new_records_cut_replayed_games_by_count_and_count_agent_steps(tmp_path: Path) -> None:
    run = tmp_path / "ppo_CarRacing-v3_nano_s0"
    _monitor(run / "monitor", START, [(1.0, 1000, 10.0), (2.0, 1000, 20.0), (9.0, 1000, 30.0)])
    (run / "monitor" / AGENT_STEPS).write_text(
        "env,game,agent_steps\n0,0,500\n0,1,1000\n0,2,1500\n"
    )
    _monitor(run / "monitor_r1", START + 500.0, [(3.0, 1000, 10.0)])
    (run / "monitor_r1" / AGENT_STEPS).write_text("env,game,agent_steps\n0,0,2000\n")
    resume = [{"checkpoint": "ppo_1200_steps.zip", "steps": 1200, "saved_at": START + 5000.0,
               "from_segment": 0, "episodes": {"0.monitor.csv": 2}, "train_seconds": 22.0}]  # fmt: skip
    (run / "resume.json").write_text(json.dumps(resume))
    episodes = read_episodes(run)
    assert episodes[:, 0].tolist() == [1.0, 2.0, 3.0]  # game 3 of segment 0 was replayed
    assert episodes[:, 3].tolist() == [500.0, 1000.0, 2000.0]  # the counter, not frames / 2
    assert episodes[:, 2].tolist() == pytest.approx([10.0, 20.0, 32.0])


def test_committed_first_study_corrected_figures() -> None:
    """The figures the independent recomputation found, from the committed run folders."""
    impala = [summarise_run(COMMITTED / f"ppo_Breakout_impala_s{s}", 20) for s in range(3)]
    speed = float(np.median([r["steps_per_second"] for r in impala]))
    assert round(speed, 1) == 47.0
    assert round(10_000_000 / speed / 3600) == 59
    assert len(read_episodes(COMMITTED / "ppo_Breakout_impala_s1")) == 706
    for run in sorted(p for p in COMMITTED.iterdir() if p.is_dir()):
        trained = json.loads((run / "eval.json").read_text())["timesteps"]
        assert read_episodes(run)[:, 3].max() <= trained, run.name


# --- Statistics and report --------------------------------------------------------------------


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
    # Three seeds on one game: the percentile interval of the mean is the seeds' min..max.
    three = np.array([[1.0], [2.0], [4.0]])
    point, low, high = stratified_bootstrap(three, mean, 1000)
    assert (low, high) == (pytest.approx(1.0), pytest.approx(4.0))


def test_report_tables_curves_and_aggregate(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for game, good in (("Breakout", 12.0), ("Seaquest", 400.0)):
        for seed in (0, 1, 2):
            write_run(runs, game, "nature", seed, [good * 0.5 + seed] * 6)
            write_run(runs, game, "nano", seed, [good + seed] * 6)
    write_run(runs, "Breakout", "impala", 0, [3.0] * 6)  # an incomplete encoder: no full seed
    for seed in (0, 1, 2):  # evaluated recoloured too: half the score kept
        path = runs / f"ppo_Breakout_nano_s{seed}" / "eval.json"
        result = json.loads(path.read_text())
        result["appearance_return_mean"] = result["eval_return_mean"] / 2
        path.write_text(json.dumps(result))
    out = tmp_path / "report"
    report = write_report([runs], out, window=2, targets={"Breakout": 6.0}, reps=500)
    for name in ("runs.csv", "summary.md", "aggregate.md", "aggregate.json", "reach.md",
                 "curves.png", "aggregate.png"):  # fmt: skip
        assert (out / name).is_file(), name
    data = json.loads((out / "aggregate.json").read_text())
    assert data["games"] == ["Breakout", "Seaquest"] and data["seeds"] == [0, 1, 2]
    assert set(data["estimates"]) == {"nano", "nature"}  # impala has no complete seed
    nano, nature = data["estimates"]["nano"]["IQM"], data["estimates"]["nature"]["IQM"]
    assert nano[0] > nature[0] and nano[1] <= nano[0] <= nano[2]
    assert "| Breakout | 6 | nano | 3/3 |" in report
    assert "min..max of the seeds" in report  # what a 3-seed per-game interval is
    assert "| Breakout | nano | 3 | 13.00 | 6.50 | 0.50 | s0: 6.0, s1: 6.5, s2: 7.0 |" in report
    assert "score at equal training seconds" in report
    assert set(data["per_game"]) == {"Breakout", "Seaquest"}
    assert "| Seaquest | nano | 0, 1, 2 |" in report
    (runs / "ppo_Pong_nano_s0").mkdir()  # an unfinished run folder is skipped
    write_run(tmp_path / "other", "Breakout", "nano", 5, [1.0] * 4, timesteps=5000)
    with pytest.raises(UsageError, match="differ in 'timesteps'"):
        collect([runs, tmp_path / "other"], window=2)
    with pytest.raises(SystemExit, match="no finished run"):
        study_main(["report", str(tmp_path / "empty"), "--out", str(out)])


# --- Real runs ----------------------------------------------------------------------------------

TINY = {"n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 1, "eval_episodes": 1,
        "max_episode_steps": 40}  # fmt: skip


def test_carracing_run_by_hand_with_pretrained_nano_and_appearance(tmp_path: Path) -> None:
    """A tiny CarRacing run of the study's protocol, pretrained nano from a local checkpoint
    (timm's architecture, random weights: no download), evaluated as trained and recoloured."""
    from helpers import timm_checkpoint

    _, weights = timm_checkpoint(tmp_path, "mobilenetv4_conv_small_050")
    config = {
        "run": {"algo": "ppo", "game": "CarRacing-v3", "encoder": f"nano@pretrained={weights}",
                "seed": 0},
        "runs_dir": str(tmp_path / "runs"), "timesteps": 64, "checkpoint_freq": 32,
        "overrides": TINY,
    }  # fmt: skip
    result = train_run(config)
    assert result["timesteps"] == 64 and result["record_version"] == 2
    assert result["appearance"] == "domain_randomize"
    assert result["eval_return_mean"] is not None and result["appearance_return_mean"] is not None
    run = tmp_path / "runs" / RunSpec(**config["run"]).name
    saved = json.loads((run / "config.json").read_text())
    assert saved["use_sde"] is True and saved["n_steps"] == 32 and saved["frames"] == "rgb96"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "ppo_32_steps.json", "ppo_32_steps.zip", "ppo_32_steps_vecnormalize.pkl",
        "ppo_64_steps.json", "ppo_64_steps.zip", "ppo_64_steps_vecnormalize.pkl",
    ]  # fmt: skip
    assert train_run(config) == {"status": "done"}  # finished: skipped
    # Unfinished (no eval.json) with the same settings: continues from its latest checkpoint.
    (run / "eval.json").unlink()
    assert train_run(config)["timesteps"] == 64
    resume = json.loads((run / "resume.json").read_text())
    assert [(r["steps"], r["from_segment"]) for r in resume] == [(64, 0)]
    # The same encoder frozen: frames -> VecFrozenEncoder -> stacked features -> an MLP policy.
    frozen = {**config, "run": {**config["run"], "encoder": f"frozen:nano@pretrained={weights}"}}
    result = train_run({**frozen, "timesteps": 32})
    assert result["timesteps"] == 32 and result["appearance_return_mean"] is not None


def _study(runs: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "mnv4_lab.study", "run", "--games", "Breakout",
        "--encoders", "nature", "--seeds", "0", "1", "2", "--timesteps", "384",
        "--checkpoint-freq", "128", "--runs", str(runs), "--num-cpus", "1",
        "--set", "n_envs=2", "--set", "n_steps=64", "--set", "batch_size=64",
        "--set", "n_epochs=1", "--set", "eval_episodes=0", *extra,
    ]  # fmt: skip


@pytest.mark.xdist_group("ray")
def test_tune_study_stops_and_restores(tmp_path: Path) -> None:
    """A real local Ray: seed 0 finishes, seed 1 is stopped (Ctrl-C) after its first
    checkpoint while seed 2 waits; the same command restores the study: seed 0 is skipped, seed 1
    continues, seed 2 starts."""
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(_study(runs), env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    done0 = runs / "ppo_Breakout_nature_s0" / "eval.json"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and first.poll() is None:
            if done0.exists() and list(
                runs.glob("_tune/*/ppo_Breakout_nature_s1/checkpoint_*/*.zip")
            ):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no checkpoint of seed 1: {first.communicate(timeout=5)[0][-3000:]}")
        first.send_signal(signal.SIGINT)
        stopped = first.communicate(timeout=60)[0]
        assert "not started: ppo_Breakout_nature_s2" in stopped, stopped[-3000:]
        assert "Traceback" not in stopped, stopped[-3000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    seed1 = runs / "ppo_Breakout_nature_s1"
    assert not (seed1 / "eval.json").exists()
    finished_at = done0.stat().st_mtime
    second = subprocess.run(_study(runs), env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming" in second.stdout
    assert done0.stat().st_mtime == finished_at  # the finished trial was not run again
    resume = json.loads((seed1 / "resume.json").read_text())
    assert resume[0]["steps"] >= 128 and resume[0]["from_segment"] == 0
    result = json.loads((seed1 / "eval.json").read_text())
    assert result["timesteps"] == 384 and result["train_seconds"] > resume[0]["train_seconds"]
    episodes = read_episodes(seed1)
    assert (episodes[:, 3] <= 384).all() and (np.diff(episodes[:, 3]) >= 0).all()
    assert (runs / "ppo_Breakout_nature_s2" / "eval.json").is_file()
    assert not list(runs.glob("ppo_*/checkpoints"))  # checkpoints live in Tune's storage only
