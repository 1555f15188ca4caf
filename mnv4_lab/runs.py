"""Run folders of the Atari examples and the study: create or resume, train with checkpoints,
evaluate, record.

``examples/atari_ppo.py``, ``examples/atari_dqn.py`` and the study's trials
(:mod:`mnv4_lab.study.trial`) write the same files:

- ``config.json``: the run's settings;
- ``monitor/*.monitor.csv``: one per env, every finished game's raw score ``r``, length ``l`` in
  env frames and end time ``t``; a resumed run writes its next segment to ``monitor_r1/``...;
- ``monitor*/agent_steps.csv``: for every finished game (env, game index in that env's Monitor
  file), the run's agent-step counter when it ended (:class:`RunRecorder`);
- ``resume.json``: for each resume, the checkpoint, its agent steps, the training seconds it had
  taken, the segment it was saved in and how many games each env had finished by then (the games
  after it were played again, and are read once);
- ``checkpoints/<algo>_<steps>_steps.zip`` with a ``.json`` beside it (the same numbers), and
  ``_vecnormalize.pkl`` when the env normalises; ``final_model.zip``;
- ``eval.json``: the final evaluation (raw scores, full games) and the run's throughput.

Runs of the first study (before ``record_version`` 2) have no ``agent_steps.csv`` and their
``resume.json`` counted paused time: :func:`read_episodes` and :func:`training_seconds` read them
with the corrections described there.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.evaluation import evaluate_policy

from .atari import ThroughputCallback, make_atari_envs, resolve_env_id
from .errors import UsageError

__all__ = [
    "AGENT_STEPS",
    "PAUSES",
    "RECORD_VERSION",
    "Run",
    "RunError",
    "RunRecorder",
    "StopOnCtrlC",
    "evaluate",
    "latest_checkpoint",
    "prepare_run",
    "read_episodes",
    "record_resume",
    "train",
    "training_seconds",
]

_CHECKPOINT = re.compile(r"_(\d+)_steps\.zip$")
#: Beside the first study's run folders: ``[[start, end], ...]`` Unix times when every run was
#: stopped (the old ``mnv4-rl-study pause``, since removed); only read, to correct those runs.
PAUSES = "pauses.json"
#: In every segment's Monitor folder: ``env,game,agent_steps`` per finished game.
AGENT_STEPS = "agent_steps.csv"
#: ``eval.json``'s ``record_version``: 2 = exact training seconds and the agent-step counter.
RECORD_VERSION = 2


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
        return _monitor_dir(self.dir, self.segment)


def _monitor_dir(run_dir: Path, segment: int) -> Path:
    return run_dir / ("monitor" if segment == 0 else f"monitor_r{segment}")


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
        return Run(run_dir, algo, checkpoint, len(_resumes(run_dir)) + 1)
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


def _sidecar(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".json")


def record_resume(run: Run, state: dict[str, Any] | None) -> float:
    """Append this segment's start to ``resume.json``; return the training seconds before it.

    Args:
        run: a resuming run (``run.segment >= 1``).
        state: the checkpoint's numbers as :class:`RunRecorder` saved them (``steps``,
            ``train_seconds``, ``saved_at``, ``segment``, ``episodes``); ``None`` for a checkpoint
            of an older version (no numbers beside it): its save time and the previous segment
            stand in, and the seconds come from the same correction as the first study's.
    """
    resumes = _resumes(run.dir)
    if state is None:
        saved_at = run.resume_from.stat().st_mtime
        m = _CHECKPOINT.search(run.resume_from.name)
        entry = {
            "checkpoint": run.resume_from.name,
            "steps": int(m.group(1)) if m else 0,
            "saved_at": saved_at,
            "from_segment": run.segment - 1,
        }
        entry["train_seconds"] = _legacy_seconds_at(run.dir, resumes + [entry], len(resumes))
    else:
        entry = {
            "checkpoint": run.resume_from.name if run.resume_from else "",
            "steps": int(state["steps"]),
            "saved_at": float(state["saved_at"]),
            "from_segment": int(state["segment"]),
            "episodes": dict(state["episodes"]),
            "train_seconds": float(state["train_seconds"]),
        }
    resumes.append(entry)
    (run.dir / "resume.json").write_text(json.dumps(resumes, indent=2))
    return entry["train_seconds"]


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


class RunRecorder(BaseCallback):
    """The run's bookkeeping during ``learn()``: the agent-step counter at every finished game
    (``agent_steps.csv``), the training seconds, and a checkpoint every ``checkpoint_freq`` agent
    steps with those numbers beside it.

    Args:
        run: the run folder (its ``monitor_dir`` gets ``agent_steps.csv``).
        checkpoint_freq: agent steps between checkpoints (0: none).
        seconds_before: training seconds of earlier segments.
        save: ``save(model, state)`` stores a checkpoint; default: :meth:`save_to_folder` into
            ``run.dir/checkpoints``. The study hands the checkpoint to Ray Tune instead.
    """

    def __init__(
        self,
        run: Run,
        checkpoint_freq: int,
        seconds_before: float = 0.0,
        save: Callable[[BaseAlgorithm, dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__()
        self.run = run
        self.checkpoint_freq = checkpoint_freq
        self.seconds_before = seconds_before
        self._save = save
        self._t0: float | None = None
        self._games: list[int] = []
        self._next = 0
        self._file: Any = None

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._games = [0] * self.training_env.num_envs
        self.run.monitor_dir.mkdir(parents=True, exist_ok=True)
        path = self.run.monitor_dir / AGENT_STEPS
        new = not path.exists()
        self._file = open(path, "a", newline="")  # noqa: SIM115 - kept open through learn()
        if new:
            self._file.write("env,game,agent_steps\n")
        freq = self.checkpoint_freq
        self._next = (self.num_timesteps // freq + 1) * freq if freq > 0 else 0

    @property
    def seconds(self) -> float:
        """Training seconds of the run so far (earlier segments included)."""
        running = time.perf_counter() - self._t0 if self._t0 is not None else 0.0
        return self.seconds_before + running

    def _on_step(self) -> bool:
        for env, info in enumerate(self.locals["infos"]):
            if "episode" in info:  # Monitor's record of a finished game (not a lost life)
                self._file.write(f"{env},{self._games[env]},{self.num_timesteps}\n")
                self._games[env] += 1
        self._file.flush()
        if self.checkpoint_freq > 0 and self.num_timesteps >= self._next:
            self.checkpoint()
            self._next += self.checkpoint_freq * max(
                1, (self.num_timesteps - self._next) // self.checkpoint_freq + 1
            )
        return True

    def state(self) -> dict[str, Any]:
        """The numbers a checkpoint carries (see :func:`record_resume`)."""
        return {
            "steps": int(self.num_timesteps),
            "train_seconds": self.seconds,
            "saved_at": time.time(),
            "segment": self.run.segment,
            "episodes": {f"{env}.monitor.csv": n for env, n in enumerate(self._games)},
        }

    def checkpoint(self) -> None:
        """Store a checkpoint now."""
        (self._save or self.save_to_folder)(self.model, self.state())

    def save_to_folder(
        self, model: BaseAlgorithm, state: dict[str, Any], folder: Path | None = None
    ) -> Path:
        """``<algo>_<steps>_steps.zip`` (+ ``.json``, + ``_vecnormalize.pkl``) in ``folder``
        (default ``run.dir/checkpoints``); returns the zip's path."""
        folder = folder or self.run.dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.run.algo}_{state['steps']}_steps.zip"
        model.save(path)
        normalize = model.get_vec_normalize_env()
        if normalize is not None:
            normalize.save(str(path.with_name(path.stem + "_vecnormalize.pkl")))
        _sidecar(path).write_text(json.dumps(state, indent=2))
        return path

    def _on_training_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
        n_envs: envs in the vector env (kept for the examples' calls; the recorder counts agent
            steps over all envs).
        progress_bar: SB3's progress bar.
        start_after: measure throughput from this many agent steps on (DQN: ``learning_starts``).

    Returns:
        ``train_seconds`` (training only: not the time a killed segment ran past its last
        checkpoint), ``steps_per_second`` (over ``measured_steps``), ``interrupted``.
    """
    del n_envs
    before = 0.0
    if run.resume_from is not None:
        sidecar = _sidecar(run.resume_from)
        state = json.loads(sidecar.read_text()) if sidecar.exists() else None
        before = record_resume(run, state)
    throughput = ThroughputCallback(start_after=start_after)
    recorder = RunRecorder(run, checkpoint_freq, before)
    stop = StopOnCtrlC()
    model.learn(
        total_timesteps=max(timesteps - model.num_timesteps, 0),
        callback=CallbackList([recorder, throughput, stop]),
        progress_bar=progress_bar,
        tb_log_name=run.algo,
        reset_num_timesteps=run.resume_from is None,
    )
    interrupted = stop.requested
    seconds = recorder.seconds
    if interrupted:
        path = recorder.save_to_folder(model, recorder.state())
        print(f"\ninterrupted: saved {path}; continue with the same command and --resume")
    throughput.finish()
    if not interrupted:
        model.save(run.dir / "final_model")
    return {
        "train_seconds": seconds,
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
    result = {**result, "record_version": RECORD_VERSION}
    (run.dir / "eval.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    mean, std = result["eval_return_mean"], result["eval_return_std"]
    evaluation = "no evaluation" if mean is None else f"eval: {mean:.2f} +/- {std:.2f}"
    print(
        f"{evaluation} over {result['eval_episodes']} episodes\n"
        f"throughput: {result['steps_per_second']:.1f} agent steps/s "
        f"({result['timesteps']} steps, {result['train_seconds']:.1f} s of training)\n"
        f"files: {run.dir}"
    )


# --- Reading run folders ---------------------------------------------------------------------


def _header(path: Path) -> dict:
    with open(path) as handle:
        return json.loads(handle.readline().lstrip("#"))


def _segment_start(run_dir: Path, segment: int) -> float:
    """The segment's clock origin: the earliest Monitor ``t_start`` of its files."""
    starts = [_header(p)["t_start"] for p in _monitor_dir(run_dir, segment).glob("*.monitor.csv")]
    return min(starts) if starts else 0.0


def _paused(runs_dir: Path, begin: float, moments: np.ndarray) -> np.ndarray:
    """Seconds of the first study's recorded pauses between ``begin`` and each absolute time."""
    path = runs_dir / PAUSES
    moments = np.asarray(moments, dtype=float)
    total = np.zeros_like(moments)
    for start, end in json.loads(path.read_text()) if path.exists() else []:
        end = time.time() if end is None else end
        total += np.clip(np.minimum(moments, end) - max(start, begin), 0.0, None)
    return total


def _legacy_seconds_at(run_dir: Path, resumes: list[dict], index: int) -> float:
    """Training seconds at resume ``index``'s checkpoint for entries without ``train_seconds``.

    The first study wrote ``elapsed_seconds`` = earlier seconds + (checkpoint's save time - its
    segment's start), which counted the pauses in between; this leaves them out.
    """
    entry = resumes[index]
    if "train_seconds" in entry:
        return float(entry["train_seconds"])
    source = int(entry.get("from_segment", index))
    before = _legacy_seconds_at(run_dir, resumes, source - 1) if source > 0 else 0.0
    start = _segment_start(run_dir, source)
    saved_at = float(entry["saved_at"])
    paused = float(_paused(run_dir.parent, start, np.array([saved_at]))[0])
    return before + max(0.0, saved_at - start - paused)


def _seconds_before_segment(run_dir: Path, resumes: list[dict], segment: int) -> float:
    return _legacy_seconds_at(run_dir, resumes, segment - 1) if segment > 0 else 0.0


def training_seconds(run_dir: Path) -> float:
    """The run's training seconds: ``eval.json``'s for runs of ``record_version`` 2; for the first
    study's, its last segment's seconds and the corrected seconds before it, less the pauses
    (``pauses.json`` beside the run folder) within each. NaN without ``eval.json``."""
    path = run_dir / "eval.json"
    if not path.is_file():
        return float("nan")
    evaluation = json.loads(path.read_text())
    seconds = evaluation.get("train_seconds")
    if seconds is None:
        return float("nan")
    if evaluation.get("record_version", 1) >= RECORD_VERSION:
        return float(seconds)
    resumes = _resumes(run_dir)
    last = len(resumes)
    stored_before = float(resumes[-1].get("elapsed_seconds", 0.0)) if resumes else 0.0
    duration = float(seconds) - stored_before  # the last segment's clock, pauses included
    start = _segment_start(run_dir, last)
    paused = float(_paused(run_dir.parent, start, np.array([start + duration]))[0])
    return _seconds_before_segment(run_dir, resumes, last) + duration - paused


def _chain(resumes: list[dict]) -> tuple[list[int], dict[int, dict]]:
    """The segments whose games count, oldest first, and for each one the resume entry that
    continued from its checkpoint (games after that checkpoint were played again)."""
    segment = len(resumes)
    chain, cut = [segment], {}
    while segment > 0:
        entry = resumes[segment - 1]
        source = int(entry.get("from_segment", segment - 1))
        cut[source] = entry
        chain.append(source)
        segment = source
    return chain[::-1], cut


def _read_segment(folder: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Rows ``(return, frames, end time, env, game index)`` of a segment, and its clock origin."""
    tables = []
    for path in sorted(folder.glob("*.monitor.csv")):
        env = int(path.name.split(".")[0]) if path.name.split(".")[0].isdigit() else len(tables)
        start = _header(path)["t_start"]
        with open(path) as handle:
            handle.readline()
            rows = [
                (float(r["r"]), float(r["l"]), start + float(r["t"]), env, i)
                for i, r in enumerate(csv.DictReader(handle))
            ]
        tables.append(np.array(rows, dtype=float).reshape(-1, 5))
    if not tables:
        return np.zeros((0, 5)), np.zeros(0), 0.0
    rows = np.concatenate(tables)
    return rows, rows[:, 2], min(_header(p)["t_start"] for p in folder.glob("*.monitor.csv"))


def _agent_steps(folder: Path, rows: np.ndarray) -> np.ndarray | None:
    """The recorded agent-step counter of each row, or None when the segment has no record."""
    path = folder / AGENT_STEPS
    if not path.exists():
        return None
    with open(path) as handle:
        counter = {
            (int(r["env"]), int(r["game"])): float(r["agent_steps"]) for r in csv.DictReader(handle)
        }
    return np.array([counter.get((int(env), int(game)), np.nan) for env, game in rows[:, 3:5]])


def read_episodes(run_dir: Path, frames_per_step: int = 4) -> np.ndarray:
    """Every finished training game of a run as rows ``(return, frames, seconds, agent_steps)``,
    in the order they ended.

    - ``seconds``: training time since the run started. Within a segment, time since its Monitor
      clock started less the first study's pauses (``pauses.json`` beside the run folder); a
      resumed segment adds the training seconds at its checkpoint.
    - Games that ended after the checkpoint a later segment resumed from were played again there,
      and are dropped: by the per-env game counts the checkpoint recorded, or, for the first
      study's runs, by comparing their end time with the checkpoint's save time (both on the
      wall clock: paused time is subtracted only afterwards).
    - ``agent_steps``: the run's agent-step counter when the game ended (``agent_steps.csv``).
      The first study did not record it: its runs get the counter interpolated linearly in
      training seconds between the known points (0 at the start, each checkpoint's steps,
      ``eval.json``'s ``timesteps`` at the end), which never exceeds the steps trained; with
      neither, summed frames / ``frames_per_step`` (reset frames make this an overestimate).
    """
    resumes = _resumes(run_dir)
    chain, cut = _chain(resumes)
    evaluation = {}
    if (run_dir / "eval.json").is_file():
        evaluation = json.loads((run_dir / "eval.json").read_text())
    tables = []
    for segment in chain:
        folder = _monitor_dir(run_dir, segment)
        rows, ends, origin = _read_segment(folder)
        if segment in cut:
            entry = cut[segment]
            if "episodes" in entry:
                limits = entry["episodes"]
                keep = np.array(
                    [game < limits.get(f"{int(env)}.monitor.csv", 0) for env, game in rows[:, 3:5]],
                    dtype=bool,
                )
            else:
                keep = ends <= float(entry["saved_at"])
            rows, ends = rows[keep], ends[keep]
        before = _seconds_before_segment(run_dir, resumes, segment)
        seconds = before + ends - origin - _paused(run_dir.parent, origin, ends)
        steps = _agent_steps(folder, rows)
        if steps is None:
            start_steps = float(resumes[segment - 1]["steps"]) if segment > 0 else 0.0
            if segment in cut:
                end_point = (_legacy_seconds_at(run_dir, resumes, resumes.index(cut[segment])),
                             float(cut[segment]["steps"]))  # fmt: skip
            elif evaluation.get("timesteps") is not None:
                end_point = (training_seconds(run_dir), float(evaluation["timesteps"]))
            else:
                end_point = None
            if end_point is not None and end_point[0] > before:
                steps = np.interp(seconds, [before, end_point[0]], [start_steps, end_point[1]])
            else:
                order = np.argsort(ends, kind="stable")
                steps = np.empty(len(rows))
                steps[order] = start_steps + np.cumsum(rows[order, 1]) / frames_per_step
        table = np.column_stack([rows[:, 0], rows[:, 1], seconds, steps])
        tables.append(table[np.argsort(ends, kind="stable")])
    return np.concatenate(tables) if tables else np.zeros((0, 4))
