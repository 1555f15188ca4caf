"""The study grid (game x encoder x seed) and its runner: finished runs are skipped, killed runs
resume from their last checkpoint, and up to ``jobs`` runs train at once with one torch thread
each. Every run is ``examples/atari_<algo>.py`` in a subprocess, so a study run is exactly a run of
the example with the same arguments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..runs import latest_checkpoint

__all__ = ["RunSpec", "command", "make_grid", "run_grid", "shard", "status"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid."""

    algo: str
    game: str
    encoder: str
    seed: int

    @property
    def name(self) -> str:
        """The run folder's name, as the examples name it."""
        return f"{self.algo}_{self.game}_{self.encoder}_s{self.seed}"


def make_grid(games: list[str], encoders: list[str], seeds: list[int], algo: str) -> list[RunSpec]:
    """Every (game, encoder, seed), seed by seed: a whole seed of every game and encoder is
    done before the next seed starts, so a study cut short still compares like with like."""
    return [RunSpec(algo, g, e, s) for s in seeds for g in games for e in encoders]


def shard(runs: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """Every ``count``-th run starting at ``index``: machine ``index`` of ``count`` takes these."""
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in [0, {count}), got {index}")
    return runs[index::count]


def _training_now(spec: RunSpec, runs_dir: Path) -> bool:
    """Whether a live process (another runner's, say) is training this run into ``runs_dir``."""
    wanted = [
        f"atari_{spec.algo}.py", f"--env {spec.game} ", f"--encoder {spec.encoder} ",
        f"--seed {spec.seed} ", f"--log-dir {runs_dir.resolve()} ",
    ]  # fmt: skip
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if all(part in cmdline for part in wanted):
            return True
    return False


def status(spec: RunSpec, runs_dir: Path) -> str:
    """``"done"`` (has eval.json), ``"running"`` (a live process trains it), ``"resume"`` (has a
    checkpoint), ``"stale"`` (a folder with nothing to resume from: started again) or ``"new"``."""
    run_dir = runs_dir / spec.name
    if (run_dir / "eval.json").is_file():
        return "done"
    if _training_now(spec, runs_dir):
        return "running"
    if latest_checkpoint(run_dir) is not None:
        return "resume"
    return "stale" if run_dir.exists() else "new"


def command(
    spec: RunSpec, runs_dir: Path, timesteps: int, checkpoint_freq: int, state: str
) -> list[str]:
    """The example's command line for this run (one torch thread, no progress bar)."""
    cmd = [
        sys.executable,
        str(EXAMPLES / f"atari_{spec.algo}.py"),
        "--env",
        spec.game,
        "--encoder",
        spec.encoder,
        "--seed",
        str(spec.seed),
        "--timesteps",
        str(timesteps),
        "--torch-threads",
        "1",
        "--log-dir",
        str(runs_dir.resolve()),
        "--checkpoint-freq",
        str(checkpoint_freq),
        "--no-progress-bar",
    ]
    if state == "resume":
        cmd.append("--resume")
    elif state == "stale":
        cmd.append("--overwrite")
    return cmd


def run_grid(
    runs: list[RunSpec],
    runs_dir: Path,
    timesteps: int,
    jobs: int,
    checkpoint_freq: int,
    dry_run: bool = False,
) -> dict[str, str]:
    """Train every run of ``runs`` that is not done, ``jobs`` at a time; returns each run's outcome.

    Each run's output goes to ``runs_dir/logs/<name>.log``.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / "logs").mkdir(exist_ok=True)
    todo = [(spec, status(spec, runs_dir)) for spec in runs]
    outcome = {spec.name: "done (skipped)" for spec, state in todo if state == "done"}
    todo = [(spec, state) for spec, state in todo if state != "done"]
    print(f"{len(outcome)} run(s) done, {len(todo)} to train, {jobs} at a time")
    if dry_run:
        for spec, state in todo:
            print(
                f"{state:>6}  {' '.join(command(spec, runs_dir, timesteps, checkpoint_freq, state))}"
            )
        return outcome
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    while todo or running:
        while todo and len(running) < jobs:
            spec, _ = todo.pop(0)
            state = status(spec, runs_dir)  # again: another runner may have taken it meanwhile
            if state in ("done", "running"):
                outcome[spec.name] = f"{state} elsewhere (skipped)"
                continue
            with open(runs_dir / "logs" / f"{spec.name}.log", "a") as log:
                process = subprocess.Popen(
                    command(spec, runs_dir, timesteps, checkpoint_freq, state),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            running[spec.name] = (process, time.time())
            print(f"started {spec.name} ({state})", flush=True)
        time.sleep(5)
        for name, (process, started) in list(running.items()):
            if process.poll() is not None:
                minutes = (time.time() - started) / 60
                outcome[name] = (
                    "trained" if process.returncode == 0 else f"failed ({process.returncode})"
                )
                print(f"{outcome[name]}: {name} after {minutes:.1f} min", flush=True)
                del running[name]
    return outcome
