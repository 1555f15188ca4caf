"""The Atari examples run end to end on real ale-py envs (tiny budgets) and write their files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from helpers import colour_vec_env, markdown_commands
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from mnv4_lab.atari import make_atari_envs, resolve_env_id
from mnv4_lab.runs import StopOnCtrlC, latest_checkpoint, read_episodes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(script: str, *args: str, fails: bool = False) -> str:
    """Run an example in a fresh process; its stdout, or its stderr when it should fail."""
    done = subprocess.run(
        # One torch thread: on a busy 2-core CI machine, two threads spin against each other.
        [sys.executable, str(EXAMPLES / script), *args, "--torch-threads", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    if fails:
        assert done.returncode != 0, done.stdout[-2000:]
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        return done.stderr
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def wrapper_names(vec_env) -> set[str]:
    env, names = vec_env.venv.envs[0], set()
    while isinstance(env, gym.Wrapper):
        names.add(type(env).__name__)
        env = env.env
    return names


def test_env_ids_are_resolved_or_rejected_with_the_fix() -> None:
    assert resolve_env_id("Pong") == ("PongNoFrameskip-v4", {})
    assert resolve_env_id("BreakoutNoFrameskip-v4") == ("BreakoutNoFrameskip-v4", {})
    with pytest.warns(UserWarning, match="frameskip=1"):
        assert resolve_env_id("ALE/Pong-v5") == ("ALE/Pong-v5", {"frameskip": 1})
    with pytest.raises(ValueError, match="NoFrameskip-v4"):
        resolve_env_id("Pong-v4")
    with pytest.raises(ValueError, match="unknown Atari env"):
        resolve_env_id("NoSuchGame")
    with pytest.raises(ValueError, match="is not an Atari game"):
        resolve_env_id("CartPole-v1")


def test_training_and_evaluation_envs_differ_only_in_life_loss_and_clipping() -> None:
    train = make_atari_envs("Pong", n_envs=2, seed=0)
    evaluation = make_atari_envs("Pong", n_envs=1, seed=0, training=False)
    try:
        # Channel-last stack; SB3 algorithms add VecTransposeImage, so the policy sees (4, 84, 84).
        assert train.observation_space.shape == (84, 84, 4)
        assert train.observation_space.dtype == np.uint8
        assert train.reset().shape == (2, 84, 84, 4)
        assert {"EpisodicLifeEnv", "ClipRewardEnv", "Monitor"} <= wrapper_names(train)
        assert {EpisodicLifeEnv.__name__, ClipRewardEnv.__name__}.isdisjoint(
            wrapper_names(evaluation)
        )
        assert evaluation.observation_space == train.observation_space
    finally:
        train.close()
        evaluation.close()


def check_run_dir(run: Path, algo: str, n_envs: int) -> dict:
    assert json.loads((run / "config.json").read_text())["algo"] == algo
    assert len(list((run / "monitor").glob("*.monitor.csv"))) == n_envs
    assert list((run / "tb").glob(f"{algo}_1/events.out.tfevents.*"))
    assert list((run / "checkpoints").glob(f"{algo}_*_steps.zip"))
    assert (run / "final_model.zip").is_file()
    result = json.loads((run / "eval.json").read_text())
    assert result["eval_episodes"] == 1
    assert np.isfinite(result["eval_return_mean"]) and result["eval_return_std"] == 0.0
    assert result["steps_per_second"] > 0
    return result


def test_ppo_example_trains_checkpoints_evaluates_and_reports_throughput(tmp_path: Path) -> None:
    out = run_example(
        "atari_ppo.py",
        # Breakout: short games, so the final evaluation (one full game) is quick.
        *("--env", "Breakout", "--encoder", "nano", "--timesteps", "128", "--n-envs", "2"),
        *("--n-steps", "64"),
        *("--batch-size", "64", "--n-epochs", "1", "--eval-episodes", "1"),
        *("--checkpoint-freq", "64", "--log-dir", str(tmp_path), "--no-progress-bar"),
    )
    run = tmp_path / "ppo_Breakout_nano_s0"
    result = check_run_dir(run, "ppo", n_envs=2)
    assert result["timesteps"] == 128
    assert "throughput:" in out and "agent steps/s" in out
    # The saved model loads (custom extractor by reference) and acts.
    model = PPO.load(run / "final_model", device="cpu")
    assert type(model.policy.features_extractor).__name__ == "EncoderExtractor"
    action, _ = model.predict(np.zeros((4, 84, 84), np.uint8))
    assert 0 <= int(action) < 4


def test_dqn_example_measures_after_learning_starts(tmp_path: Path) -> None:
    out = run_example(
        "atari_dqn.py",
        # NatureCNN keeps the one-game Pong evaluation short; the benchmark test runs DQN with nano.
        *("--encoder", "nature", "--timesteps", "200", "--learning-starts", "100"),
        *("--buffer-size", "1000", "--eval-episodes", "1", "--checkpoint-freq", "100"),
        *("--log-dir", str(tmp_path), "--run-name", "dqn_run", "--tune-malloc"),  # progress bar on
    )
    assert "malloc: tuned" in out
    run = tmp_path / "dqn_run"
    result = check_run_dir(run, "dqn", n_envs=1)
    assert result["measured_steps"] == 100  # steps 100..200, after learning_starts
    model = DQN.load(run / "final_model", device="cpu")
    assert type(model.q_net.features_extractor).__name__ == "NatureCNN"


TINY_PPO = (
    *("--env", "Breakout", "--encoder", "nano_rl", "--n-envs", "1", "--n-steps", "32"),
    *("--batch-size", "32", "--n-epochs", "1", "--no-progress-bar"),
)


def test_a_run_folder_is_never_overwritten_silently(tmp_path: Path) -> None:
    args = (*TINY_PPO, "--timesteps", "32", "--eval-episodes", "0", "--log-dir", str(tmp_path))
    run_example("atari_ppo.py", *args)
    run = tmp_path / "ppo_Breakout_nano_rl_s0"
    result = json.loads((run / "eval.json").read_text())  # valid JSON: no NaN
    assert result["eval_return_mean"] is None and result["eval_episodes"] == 0
    error = run_example("atari_ppo.py", *args, fails=True)
    assert "exists: pass --resume" in error and "--overwrite" in error
    stamp = (run / "eval.json").stat().st_mtime_ns
    run_example("atari_ppo.py", *args, "--overwrite")
    assert (run / "eval.json").stat().st_mtime_ns != stamp


def test_bad_env_leaves_no_folder_and_one_line(tmp_path: Path) -> None:
    for env, says in (("NoSuchGame", "unknown Atari env"), ("CartPole-v1", "not an Atari game")):
        error = run_example("atari_ppo.py", "--env", env, "--log-dir", str(tmp_path), fails=True)
        assert error.startswith("error: ") and says in error and len(error.splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_weights_that_cannot_be_had_fail_first_in_one_line_and_leave_no_folder(
    tmp_path: Path,
) -> None:
    """A missing local file or an uncached hub checkpoint with no network: one line naming the
    fix, before any run folder exists (a rerun with a local file is then not refused)."""
    offline = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",  # no network, as far as huggingface_hub is concerned
        "HF_HOME": str(tmp_path / "hf"),
        "MNV4_RL_WEIGHTS": str(tmp_path / "weights"),  # nothing cached
        "OMP_NUM_THREADS": "1",
    }
    runs = tmp_path / "runs"
    args = ("--env", "Breakout", "--timesteps", "32", "--log-dir", str(runs), "--no-progress-bar")
    cases = [
        ("atari_ppo.py", "nano", str(tmp_path / "nope.safetensors"), "no checkpoint file at"),
        ("atari_ppo.py", "small", "timm/mobilenetv4_conv_small.e2400_r224_in1k", "download"),
        ("atari_dqn.py", "small", None, "could not download"),  # the variant's own weights
    ]
    for script, encoder, source, says in cases:
        pretrained = ("--pretrained",) if source is None else ("--pretrained", source)
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / script), *args, "--encoder", encoder, *pretrained],
            capture_output=True, text=True, cwd=tmp_path, env=offline, timeout=300,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr[-3000:]
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
        assert not runs.exists() or not list(runs.iterdir()), list(runs.iterdir())


def test_missing_tensorboard_names_the_fix_and_no_tensorboard_runs(tmp_path: Path) -> None:
    """Without the tensorboard package the example says what to do; --no-tensorboard runs."""
    blocked = (
        "import runpy, sys; sys.modules['tensorboard'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    args = (*TINY_PPO, "--timesteps", "32", "--eval-episodes", "0", "--log-dir", str(tmp_path))
    command = [sys.executable, "-c", blocked, str(EXAMPLES / "atari_ppo.py"), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "pip install 'mnv4_rl[examples]', or pass --no-tensorboard" in done.stderr
    done = subprocess.run(
        [*command, "--no-tensorboard", "--overwrite"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp_path / "ppo_Breakout_nano_rl_s0" / "tb").exists()


def test_ctrl_c_ends_learn_at_the_next_step_with_nothing_raised() -> None:
    """A SIGINT in the middle of a real PPO rollout ends ``learn()`` normally at the next step
    (no KeyboardInterrupt inside SB3 or an env), and Ctrl-C's own handler is back afterwards."""

    class CtrlCAtStep(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 40:
                os.kill(os.getpid(), signal.SIGINT)
            return True

    # Whatever handled Ctrl-C before (Python's default, or "ignore" when started in the
    # background by a shell without job control) handles it again afterwards.
    before = signal.getsignal(signal.SIGINT)
    stop = StopOnCtrlC()
    model = PPO("CnnPolicy", colour_vec_env("chw"), n_steps=64, batch_size=64, n_epochs=1)
    model.learn(1024, callback=CallbackList([CtrlCAtStep(), stop]))
    assert stop.requested and 40 <= model.num_timesteps <= 42  # 2 envs: the next vector step
    assert signal.getsignal(signal.SIGINT) == before


def test_ctrl_c_saves_and_resume_continues(tmp_path: Path) -> None:
    command = [
        *(sys.executable, str(EXAMPLES / "atari_ppo.py"), *TINY_PPO, "--torch-threads", "1"),
        *("--timesteps", "1000000", "--log-dir", str(tmp_path), "--eval-episodes", "0"),
    ]
    run = tmp_path / "ppo_Breakout_nano_rl_s0"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while not list(run.glob("monitor/*.monitor.csv")) and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(4)  # well into training
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, out
    assert "interrupted: saved" in out and "--resume" in out
    saved = latest_checkpoint(run)
    steps = int(saved.stem.split("_")[1])
    assert steps > 0
    resumed = run_example(
        "atari_ppo.py",
        *(*TINY_PPO, "--timesteps", str(steps + 64), "--log-dir", str(tmp_path)),
        *("--eval-episodes", "0", "--resume"),
    )
    assert "no evaluation" in resumed
    assert json.loads((run / "eval.json").read_text())["timesteps"] == steps + 64
    assert json.loads((run / "resume.json").read_text())[0]["steps"] == steps
    assert list((run / "monitor_r1").glob("*.monitor.csv"))


def write_random_run(root: Path, encoder: str, seed: int) -> Path:
    """A run directory like the examples', with real Monitor files of 3 random-policy games."""
    run = root / f"ppo_Breakout_{encoder}_s{seed}"
    run.mkdir(parents=True)
    config = {"algo": "ppo", "env": "Breakout", "encoder": encoder, "seed": seed}
    (run / "config.json").write_text(json.dumps(config))
    env = make_atari_envs("Breakout", n_envs=1, seed=seed, monitor_dir=str(run / "monitor"))
    env.reset()
    rng = np.random.default_rng(seed)
    games = 0
    while games < 3:  # episodic life: a game ends when the Monitor reports "episode"
        _, _, _, infos = env.step(rng.integers(0, 4, size=1))
        games += "episode" in infos[0]
    env.close()
    return run


def test_plot_learning_curves_one_line_per_encoder(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import plot_learning_curves
    finally:
        sys.path.remove(str(EXAMPLES))
    for encoder in ("nature", "nano"):
        for seed in (0, 1):
            write_random_run(tmp_path / "runs", encoder, seed)
    empty = tmp_path / "runs" / "ppo_Pong_small_s0"  # no finished game yet: skipped
    (empty / "monitor").mkdir(parents=True)
    (empty / "config.json").write_text(json.dumps({"algo": "ppo", "env": "Pong", "encoder": "s"}))

    out = plot_learning_curves.main(
        [str(tmp_path / "runs"), "--out", str(tmp_path / "curves.png"), "--window", "1"]
    )
    image = __import__("matplotlib.image").image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # The summary table: one row per encoder, numbers from the Monitor files and eval.json.
    table = out.with_suffix(".md").read_text().splitlines()
    assert [row.split(" | ")[0] for row in table[2:]] == [
        "| ppo Breakout nano",
        "| ppo Breakout nature",
    ]
    episodes = [
        read_episodes(run) for run in sorted((tmp_path / "runs").glob("ppo_Breakout_nano_s*"))
    ]
    last_return = np.mean([e[-1, 0] for e in episodes])  # window 1: the last game of each seed
    assert table[2].split(" | ")[4] == f"{last_return:.2f}"
    assert table[2].endswith("| none |")  # no eval.json in these runs
    with pytest.raises(SystemExit, match="no run directories"):
        plot_learning_curves.main([str(tmp_path / "nothing")])


def _script_parser(path: str):
    """The ``parse_args`` of a script in this repository, imported from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_args


def test_readme_commands_are_valid_for_the_scripts() -> None:
    """Every command of the docs' sections on training, results, RLlib, export and studies
    parses with its script (rl-zoo3's own commands run in ``tests/test_zoo.py``)."""
    import shlex

    from mnv4_lab.bench import parse_args as bench_args
    from mnv4_lab.study.cli import parse_args as study_args
    from mnv4_rl.export.cli import parse_args as export_args

    scripts = [
        "examples/atari_ppo.py", "examples/atari_dqn.py", "examples/plot_learning_curves.py",
        "examples/rllib_atari_ppo.py", "examples/play_exported.py",
        "benchmarks/rllib_throughput.py", "benchmarks/export_latency.py", "benchmarks/fold_cost.py",
    ]  # fmt: skip
    parsers = {script: _script_parser(script) for script in scripts}
    parsers |= {
        ".venv/bin/mnv4-rl-bench": bench_args,
        "mnv4-rl-study": study_args,
        "mnv4-rl-export": export_args,
    }
    not_ours = ("-m", "ray")  # rl-zoo3's modules, Ray's CLI
    pages = {"atari": "docs/atari.md", "results": "docs/results.md", "rllib": "docs/rllib.md"}
    pages |= {"export": "docs/export.md", "zoo": "docs/zoo.md"}
    commands = [c for name, page in pages.items() for c in markdown_commands(page, name)]
    assert len(commands) >= 15
    parsed = 0
    for command in commands:
        words = shlex.split(command)
        if words[0] == "ray" and "--" in words:  # ray job submit ... -- python script.py ...
            words = words[words.index("--") + 1 :]
        words = words[1:] if words[0] == "python" else words
        if words[0] in not_ours:
            continue
        assert words[0] in parsers, f"README command with an unknown script: {command}"
        parsers[words[0]](words[1:])  # argparse exits (fails the test) on a bad option
        parsed += 1
    assert parsed >= 12
