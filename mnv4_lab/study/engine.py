"""The study on Ray Tune: every run of the grid is a Tune trial (:func:`mnv4_lab.study.trial.tune_trial`).

- Resources: ``cpus_per_trial`` CPUs per trial (one torch thread per CPU); Tune starts as many
  trials as the cluster has CPUs for, at most ``max_concurrent``.
- Where: a local Ray started here, or an existing cluster (``address``, e.g. ``"auto"`` on a node
  of a cluster started with ``ray start``). Run folders and Tune's experiment both live under
  ``runs_dir``, which on a cluster must be a filesystem every node sees.
- Resume: the experiment is named after the grid (its runs, budget and settings), under
  ``runs_dir/_tune/``. Running the same grid again restores it with Tune's own restore: finished
  trials are skipped, unfinished ones continue from their last checkpoint, errored ones too.
- Failures: a trial that raises is restarted from its last checkpoint up to ``max_failures``
  times (Tune's ``FailureConfig``).
- Stop: Ctrl-C (SIGINT) on the driver; Tune saves the experiment and stops its trials.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .grid import RunSpec

__all__ = ["TUNE_FOLDER", "experiment_name", "run_study"]

#: The folder under the runs folder that holds Tune's experiments (checkpoints included).
TUNE_FOLDER = "_tune"


def _trial_name(trial: Any) -> str:
    """A trial's name and folder: its run's folder name (``ppo_Breakout_nano_s0``)."""
    return RunSpec(**trial.config["run"]).name


def experiment_name(runs: list[RunSpec], timesteps: int, overrides: dict[str, Any]) -> str:
    """``study-<hash>``: the same grid, budget and settings give the same name (and so resume)."""
    text = json.dumps(
        [[r.to_dict() for r in runs], timesteps, overrides], sort_keys=True, default=str
    )
    return "study-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def run_study(
    runs: list[RunSpec],
    runs_dir: Path,
    timesteps: int,
    checkpoint_freq: int,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_trial: float = 1.0,
    max_concurrent: int = 0,
    max_failures: int = 2,
    overrides: dict[str, Any] | None = None,
    verbose: int = 1,
) -> dict[str, str]:
    """Train every run of ``runs`` as a Ray Tune trial; returns each run's outcome by name.

    Args:
        runs: the grid (:func:`mnv4_lab.study.grid.make_grid`), started in this order.
        runs_dir: folder of the run folders (and of ``_tune/``).
        timesteps: agent steps per run.
        checkpoint_freq: agent steps between checkpoints.
        address: an existing Ray cluster (``"auto"``, ``"ray://host:10001"``...); None: a local Ray.
        num_cpus: CPUs of the local Ray (None: all of this machine's).
        cpus_per_trial: CPUs Tune reserves for each trial.
        max_concurrent: at most this many trials at once (0: as many as the CPUs allow).
        max_failures: restarts of a trial that raised, each from its last checkpoint.
        overrides: settings replacing the protocol's (tiny budgets in tests).
        verbose: Tune's verbosity (0 silent, 1 status, 2 trial results).

    Returns:
        ``{run name: "trained" | "failed: <error>" | "not finished" | "not started"}``.
    """
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UsageError("mnv4-rl-study run needs Ray Tune: pip install 'mnv4_rl[rllib]'") from None

    from .trial import tune_trial

    runs_dir = Path(runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    overrides = dict(overrides or {})
    # A trial runs in its own worker; one torch thread per CPU it holds.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # Ray starts its workers 15 steps nicer than itself (RAY_worker_niceness); on a shared
    # machine that starves the trials (measured: 16 against 49 agent steps/s by hand at a load of
    # 10 on 2 cores). Trials run at the driver's niceness instead (a local Ray only; a cluster's
    # nodes take it from their own `ray start` environment).
    os.environ.setdefault("RAY_worker_niceness", "0")
    # A checkpoint per 50k steps is rare; Tune's warning about frequent snapshots is for tests.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            configure_logging=False,
            log_to_driver=verbose > 1,
        )
    param_space = {
        "run": tune.grid_search([r.to_dict() for r in runs]),
        "runs_dir": str(runs_dir),
        "timesteps": timesteps,
        "checkpoint_freq": checkpoint_freq,
        "overrides": overrides,
    }
    trainable = tune.with_resources(tune_trial, {"cpu": cpus_per_trial})
    storage = runs_dir / TUNE_FOLDER
    name = experiment_name(runs, timesteps, overrides)
    if tune.Tuner.can_restore(str(storage / name)):
        print(f"resuming {storage / name}", flush=True)
        tuner = tune.Tuner.restore(
            str(storage / name),
            trainable,
            resume_unfinished=True,
            resume_errored=True,
            param_space=param_space,
        )
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                max_concurrent_trials=max_concurrent or None,
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(storage),
                failure_config=tune.FailureConfig(max_failures=max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                verbose=verbose,
            ),
        )
    results = tuner.fit()
    # Trials that never started after a stop (Ctrl-C) come back without a config.
    outcome = {spec.name: "not started" for spec in runs}
    for result in results:
        if not result.config:
            continue
        spec = RunSpec(**result.config["run"])
        if result.error is not None:
            outcome[spec.name] = f"failed: {str(result.error).splitlines()[0]}"
        elif (runs_dir / spec.name / "eval.json").is_file():
            outcome[spec.name] = "trained"
        else:
            outcome[spec.name] = "not finished"
    return outcome
