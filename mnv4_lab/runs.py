"""Run folders of the Atari examples: create or resume, train with checkpoints, evaluate, record.

``examples/atari_ppo.py`` and ``examples/atari_dqn.py`` build their algorithm and hand it here, so
both write the same files:

- ``config.json``: the command's arguments;
- ``monitor/*.monitor.csv``: one per env, every finished game's raw score ``r``, length ``l`` in
  emulator frames and end time ``t``; a resumed run writes its next segment to ``monitor_r1/``...;
- ``resume.json``: for each resume, the checkpoint, its agent steps and the training seconds it
  had taken (so curves over wall-clock time leave out the pause);
- ``checkpoints/<algo>_<steps>_steps.zip`` (also written on Ctrl-C), ``final_model.zip``;
- ``eval.json``: the final evaluation (raw scores, full games) and the run's throughput.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.evaluation import evaluate_policy

from .atari import ThroughputCallback, make_atari_envs, resolve_env_id
from .errors import UsageError

__all__ = [
    "Run",
    "RunError",
    "StopOnCtrlC",
    "evaluate",
    "latest_checkpoint",
    "prepare_run",
    "read_episodes",
    "train",
    "unpaused_seconds",
]

_CHECKPOINT = re.compile(r"_(\d+)_steps\.zip$")
#: Beside run folders: ``[[start, end], ...]`` Unix times when every run was stopped (a study
#: paused for a quiet benchmark, ``mnv4-rl-study pause``); training seconds leave them out.
PAUSES = "pauses.json"


class RunError(UsageError):
    """A run folder that cannot be used as asked; the message says what to pass instead."""


@dataclass
class Run:
    """A run folder and, when resuming, the checkpoint it continues from.

    Attributes:
        dir: the run folder.
        algo: ``"ppo"`` or ``"dqn"`` (the checkpoint prefix).
        resume_from: the checkpoint to load, or ``None`` for a new run.
        segment: 0 for a new run, ``i`` for its ``i``-th resume (Monitor files go to
            ``monitor_r<i>/``).
    """

    dir: Path
    algo: str
    resume_from: Path | None = None
    segment: int = 0

    @property
    def monitor_dir(self) -> Path:
        return self.dir / ("monitor" if self.segment == 0 else f"monitor_r{self.segment}")


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint with the most agent steps in ``run_dir/checkpoints`` (None when there is none)."""
    found = [
        (int(m.group(1)), path)
        for path in (run_dir / "checkpoints").glob("*.zip")
        if (m := _CHECKPOINT.search(path.name))
    ]
    return max(found)[1] if found else None


def prepare_run(args: Any, algo: str, *, resume: bool = False, overwrite: bool = False) -> Run:
    """Check the env, then create the run folder (or pick the checkpoint to resume from).

    The env id is checked first, so a bad ``--env`` leaves no folder behind. An existing folder is
    refused unless ``resume`` (continue from its latest checkpoint) or ``overwrite`` (delete it).

    Args:
        args: the parsed command line (``env``, ``encoder``, ``seed``, ``log_dir``, ``run_name``).
        algo: ``"ppo"`` or ``"dqn"``.
        resume: continue the run from its latest checkpoint.
        overwrite: delete an existing folder of the same name first.

    Raises:
        ValueError: an unknown or unsuitable env (the message lists what works).
        RunError: the folder exists and neither flag was given, or there is nothing to resume.
    """
    resolve_env_id(args.env)
    if resume and overwrite:
        raise RunError("--resume and --overwrite contradict each other; pass one")
    name = args.run_name or f"{algo}_{args.env.replace('/', '_')}_{args.encoder}_s{args.seed}"
    run_dir = Path(args.log_dir) / name
    config = {"algo": algo, **vars(args)}
    if run_dir.exists() and overwrite:
        shutil.rmtree(run_dir)
    if resume:
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is None:
            raise RunError(
                f"nothing to resume in {run_dir}: no checkpoints/{algo}_<steps>_steps.zip; run "
                "without --resume to start it"
            )
        segment = len(_resumes(run_dir)) + 1
        return Run(run_dir, algo, checkpoint, segment)
    if run_dir.exists():
        raise RunError(
            f"{run_dir} exists: pass --resume to continue it from its latest checkpoint, "
            "--overwrite to start it again, or --run-name to pick another name"
        )
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    return Run(run_dir, algo)


def _resumes(run_dir: Path) -> list[dict]:
    path = run_dir / "resume.json"
    return json.loads(path.read_text()) if path.exists() else []


def _seconds_before(run: Run) -> float:
    """Training seconds before this segment (0 for a new run), from ``resume.json``."""
    return _resumes(run.dir)[-1]["elapsed_seconds"] if run.segment else 0.0


def _record_resume(run: Run, model: BaseAlgorithm) -> None:
    """Note where this segment starts: the checkpoint, its steps, and the training seconds it took
    (the checkpoint's save time minus the run's start, less earlier pauses)."""
    resumes = _resumes(run.dir)
    saved_at = run.resume_from.stat().st_mtime
    segment_start = _segment_start(run.dir, run.segment - 1)
    before = resumes[-1]["elapsed_seconds"] if resumes else 0.0
    resumes.append(
        {
            "checkpoint": run.resume_from.name,
            "steps": int(model.num_timesteps),
            "saved_at": saved_at,
            "elapsed_seconds": before + max(0.0, saved_at - segment_start),
        }
    )
    (run.dir / "resume.json").write_text(json.dumps(resumes, indent=2))


def _segment_start(run_dir: Path, segment: int) -> float:
    folder = run_dir / ("monitor" if segment == 0 else f"monitor_r{segment}")
    starts = [_header(path)["t_start"] for path in folder.glob("*.monitor.csv")]
    return min(starts) if starts else time.time()


def _header(path: Path) -> dict:
    with open(path) as handle:
        return json.loads(handle.readline().lstrip("#"))


class StopOnCtrlC(BaseCallback):
    """Ends ``learn()`` cleanly at the next step after Ctrl-C, with ``requested`` set.

    A KeyboardInterrupt raised wherever the main thread happens to be (inside an env step, or
    while TensorBoard's writer holds its queue's lock) can leave the process unable to save or
    to exit; a flag checked between steps cannot. A second Ctrl-C interrupts at once, as usual.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested = False
        self._previous: Any = signal.default_int_handler

    def _on_training_start(self) -> None:
        self._previous = signal.signal(signal.SIGINT, self._request)

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # the next Ctrl-C is not held back

    def _on_step(self) -> bool:
        return not self.requested

    def _on_training_end(self) -> None:
        signal.signal(signal.SIGINT, self._previous)


def train(
    model: BaseAlgorithm,
    run: Run,
    timesteps: int,
    checkpoint_freq: int,
    n_envs: int,
    *,
    progress_bar: bool = False,
    start_after: int = 0,
) -> dict[str, Any]:
    """``model.learn`` to ``timesteps`` agent steps in all, with checkpoints; Ctrl-C saves first.

    Args:
        model: the algorithm, built on the run's envs (or loaded from ``run.resume_from``).
        run: from :func:`prepare_run`.
        timesteps: total agent steps of the run (a resumed run continues towards it).
        checkpoint_freq: agent steps between checkpoints.
        n_envs: envs in the vector env (SB3 counts checkpoint frequency per env step).
        progress_bar: SB3's progress bar.
        start_after: measure throughput from this many agent steps on (DQN: ``learning_starts``).

    Returns:
        ``train_seconds``, ``steps_per_second`` (over ``measured_steps``), ``interrupted``.
    """
    if run.resume_from is not None:
        _record_resume(run, model)
    throughput = ThroughputCallback(start_after=start_after)
    checkpoints = CheckpointCallback(
        save_freq=max(checkpoint_freq // n_envs, 1),
        save_path=str(run.dir / "checkpoints"),
        name_prefix=run.algo,
    )
    stop = StopOnCtrlC()
    start = time.perf_counter()
    model.learn(
        total_timesteps=max(timesteps - model.num_timesteps, 0),
        callback=CallbackList([checkpoints, throughput, stop]),
        progress_bar=progress_bar,
        tb_log_name=run.algo,
        reset_num_timesteps=run.resume_from is None,
    )
    interrupted = stop.requested
    if interrupted:
        path = run.dir / "checkpoints" / f"{run.algo}_{model.num_timesteps}_steps.zip"
        model.save(path)
        print(f"\ninterrupted: saved {path}; continue with the same command and --resume")
    seconds = time.perf_counter() - start
    throughput.finish()
    if not interrupted:
        model.save(run.dir / "final_model")
    return {
        "train_seconds": seconds + _seconds_before(run),
        "steps_per_second": throughput.steps_per_second,
        "measured_steps": throughput.steps,
        "interrupted": interrupted,
    }


def evaluate(
    model: BaseAlgorithm, env: str, episodes: int, seed: int, deterministic: bool
) -> tuple[float | None, float | None]:
    """Mean and std of the raw score over ``episodes`` full games (no episodic life, no reward
    clipping), on an env seeded apart from training; ``(None, None)`` for 0 episodes."""
    if episodes <= 0:
        return None, None
    eval_env = make_atari_envs(env, n_envs=1, seed=seed + 10_000, training=False)
    mean, std = evaluate_policy(
        model, eval_env, n_eval_episodes=episodes, deterministic=deterministic
    )
    eval_env.close()
    return float(mean), float(std)


def write_result(run: Run, result: dict[str, Any]) -> None:
    """``eval.json`` (plain JSON: a missing evaluation is ``null``, never NaN), and a summary line."""
    (run.dir / "eval.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    mean, std = result["eval_return_mean"], result["eval_return_std"]
    evaluation = "no evaluation" if mean is None else f"eval: {mean:.2f} +/- {std:.2f}"
    print(
        f"{evaluation} over {result['eval_episodes']} episodes\n"
        f"throughput: {result['steps_per_second']:.1f} agent steps/s "
        f"({result['timesteps']} steps, {result['train_seconds']:.1f} s of training)\n"
        f"files: {run.dir}"
    )


def read_episodes(run_dir: Path) -> np.ndarray:
    """Every finished training game of a run as rows ``(return, frames, seconds)``, in order.

    ``seconds`` is training time since the run started: Monitor files of one segment share a
    clock (their earliest ``t_start``), less the pauses in ``PAUSES`` beside the run folder; a
    resumed segment continues from the training seconds in ``resume.json``, and games of the
    earlier segment that ended after the checkpoint it resumed from are dropped (their steps
    were replayed).
    """
    resumes = _resumes(run_dir)
    folders = [run_dir / "monitor"] + [run_dir / f"monitor_r{i + 1}" for i in range(len(resumes))]
    tables = []
    for index, folder in enumerate(folders):
        episodes = _read_segment(folder)
        if index < len(resumes):  # games after the checkpoint were replayed in the next segment
            cut = resumes[index]["saved_at"] - _segment_start(run_dir, index)
            episodes = episodes[episodes[:, 2] <= cut]
        if index:
            episodes[:, 2] += resumes[index - 1]["elapsed_seconds"]
        tables.append(episodes)
    return np.concatenate(tables) if tables else np.zeros((0, 3))


def _paused(runs_dir: Path, start: float, moments: np.ndarray) -> np.ndarray:
    """Seconds of recorded pauses between ``start`` and each absolute time in ``moments``."""
    path = runs_dir / PAUSES
    total = np.zeros_like(moments)
    for begin, end in json.loads(path.read_text()) if path.exists() else []:
        end = time.time() if end is None else end
        total += np.clip(np.minimum(moments, end) - max(begin, start), 0.0, None)
    return total


def unpaused_seconds(run_dir: Path, seconds: float) -> float:
    """A run's training ``seconds`` (as ``eval.json`` has them) less the pauses within them."""
    starts = [_header(p)["t_start"] for p in (run_dir / "monitor").glob("*.monitor.csv")]
    if not starts:
        return seconds
    start = min(starts)
    return seconds - float(_paused(run_dir.parent, start, np.array([start + seconds]))[0])


def _read_segment(folder: Path) -> np.ndarray:
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
    episodes[:, 2] -= _paused(folder.parent.parent, min(starts), episodes[:, 2] + min(starts))
    return episodes[np.argsort(episodes[:, 2], kind="stable")]
