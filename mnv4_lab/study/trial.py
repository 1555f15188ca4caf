"""One run of the study: its settings, its envs and model, training with checkpoints, and its
evaluations (as trained, and with the appearance changed).

:func:`train_run` is the whole run; :func:`tune_trial` is the same function as a Ray Tune
function trainable (checkpoints go to Tune, restores come from Tune). A run started by hand
(:func:`train_run` without Tune) writes its checkpoints into the run folder instead.

Protocols (the settings each run's learning depends on):

- Atari (gray or ``:rgb``): ``examples/atari_ppo.py``'s defaults, i.e. rl-zoo's ``atari`` PPO
  settings (``mnv4_rl.zoo.ATARI``); ``config.json`` has the example's keys, so the first study's
  runs and new ones are reported together.
- CarRacing-v3: :data:`mnv4_lab.study.grid.CARRACING_PPO` (rl-zoo's setting with RGB frames).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from ..atari import ThroughputCallback
from ..envs import HUE_DEGREES, env_kind, frame_stack, make_envs
from ..errors import UsageError
from ..runs import RECORD_VERSION, Run, RunRecorder, record_resume
from .grid import CARRACING_PPO, EncoderSpec, RunSpec, parse_encoder_spec

__all__ = ["run_config", "train_run", "tune_trial"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(algo: str) -> ModuleType:
    """``examples/atari_<algo>.py`` imported from its file (the Atari protocol's source)."""
    path = EXAMPLES / f"atari_{algo}.py"
    spec = importlib.util.spec_from_file_location(f"_study_atari_{algo}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_config(spec: RunSpec, runs_dir: Path, timesteps: int, overrides: dict[str, Any]) -> dict:
    """The run's ``config.json``: every setting, with ``overrides`` (tests' tiny budgets) applied.

    Raises:
        UsageError: an override that is not a setting of the protocol.
    """
    encoder = parse_encoder_spec(spec.encoder)
    if env_kind(spec.game) == "carracing":
        settings = {"algo": spec.algo, "env": spec.game, **CARRACING_PPO}
    else:
        args = _example(spec.algo).parse_args(["--env", spec.game.split(":")[0]])
        settings = {"algo": spec.algo, **vars(args), "env": spec.game}
        for key in ("resume", "overwrite", "run_name"):
            settings.pop(key, None)
    settings.update(
        encoder=spec.encoder,
        pretrained=encoder.pretrained,
        seed=spec.seed,
        timesteps=timesteps,
        log_dir=str(runs_dir),
        torch_threads=1,
        no_tensorboard=True,
        no_progress_bar=True,
    )
    unknown = set(overrides) - set(settings)
    if unknown:
        raise UsageError(
            f"unknown setting(s) {sorted(unknown)} for {spec.game}; known: {sorted(settings)}"
        )
    return {**settings, **overrides}


def _policy_kwargs(encoder: EncoderSpec, config: dict) -> dict[str, Any]:
    from mnv4_rl.sb3 import encoder_policy_kwargs

    if encoder.frozen:
        from mnv4_rl.sb3 import frozen_policy_kwargs

        kwargs = frozen_policy_kwargs("ppo")
        return _carracing_head(kwargs, config) if env_kind(config["env"]) == "carracing" else kwargs
    options = dict(encoder.options)
    pretrained = options.pop("pretrained", None)
    features_dim = options.pop("features_dim", None)
    try:
        kwargs = encoder_policy_kwargs(
            encoder.name, "ppo", pretrained=pretrained, features_dim=features_dim, **options
        )
    except TypeError as error:  # an option this install's extractors do not take (yet)
        raise UsageError(
            f"encoder {encoder.name!r} does not take {sorted(options)}: {error}"
        ) from None
    return _carracing_head(kwargs, config) if env_kind(config["env"]) == "carracing" else kwargs


def _carracing_head(kwargs: dict[str, Any], config: dict) -> dict[str, Any]:
    """rl-zoo's CarRacing policy settings on top of the encoder's ``policy_kwargs``."""
    import torch.nn as nn

    return {
        **kwargs,
        "net_arch": config["net_arch"],
        "log_std_init": config["log_std_init"],
        "ortho_init": config["ortho_init"],
        "activation_fn": getattr(nn, config["activation_fn"]),
    }


def _frozen(venv: VecEnv, encoder: EncoderSpec, env: str) -> VecEnv:
    """Single frames seen through a frozen pretrained encoder that stacks its feature vectors
    (``mnv4_rl.sb3.VecFrozenEncoder``), as many as the lab stacks frames for ``env``."""
    try:
        from mnv4_rl.sb3 import VecFrozenEncoder
    except ImportError:
        raise UsageError(
            f"frozen {encoder.name!r} needs mnv4_rl.sb3.VecFrozenEncoder, which this install "
            "does not have"
        ) from None
    options = {k: v for k, v in encoder.options.items() if k != "pretrained"}
    return VecFrozenEncoder(
        venv, encoder.name, pretrained=encoder.pretrained, n_stack=frame_stack(env), **options
    )


def _envs(config: dict, encoder: EncoderSpec, n_envs: int, seed: int, **kwargs: Any) -> VecEnv:
    venv = make_envs(
        config["env"],
        n_envs,
        seed,
        max_episode_steps=config.get("max_episode_steps"),
        stack=not encoder.frozen,
        **kwargs,
    )
    return _frozen(venv, encoder, config["env"]) if encoder.frozen else venv


def _build(config: dict, encoder: EncoderSpec, venv: VecEnv) -> PPO:
    policy = "MlpPolicy" if encoder.frozen else "CnnPolicy"
    if env_kind(config["env"]) == "carracing":
        lr = config["learning_rate"]
        return PPO(
            policy,
            venv,
            learning_rate=lambda remaining: remaining * lr,
            n_steps=config["n_steps"],
            batch_size=config["batch_size"],
            n_epochs=config["n_epochs"],
            gamma=config["gamma"],
            gae_lambda=config["gae_lambda"],
            clip_range=config["clip_range"],
            ent_coef=config["ent_coef"],
            vf_coef=config["vf_coef"],
            max_grad_norm=config["max_grad_norm"],
            use_sde=config["use_sde"],
            sde_sample_freq=config["sde_sample_freq"],
            policy_kwargs=_policy_kwargs(encoder, config),
            seed=config["seed"],
            device="cpu",
            verbose=0,
        )
    lr, clip = config["learning_rate"], config["clip_range"]
    return PPO(  # examples/atari_ppo.py's construction
        policy,
        venv,
        learning_rate=lambda remaining: remaining * lr,
        n_steps=config["n_steps"],
        batch_size=config["batch_size"],
        n_epochs=config["n_epochs"],
        clip_range=lambda remaining: remaining * clip,
        ent_coef=config["ent_coef"],
        vf_coef=config["vf_coef"],
        policy_kwargs=_policy_kwargs(encoder, config),
        seed=config["seed"],
        device="cpu",
        verbose=0,
    )


def evaluate_run(
    model: PPO, config: dict, changed_appearance: bool
) -> tuple[float | None, float | None]:
    """Mean and std of the raw score over ``eval_episodes`` full games, on envs seeded apart from
    training (seed + 10000); ``changed_appearance``: CarRacing ``domain_randomize=True``, Atari
    hue turned by :data:`mnv4_lab.envs.HUE_DEGREES`. ``(None, None)`` for 0 episodes."""
    episodes = int(config["eval_episodes"])
    if episodes <= 0:
        return None, None
    encoder = parse_encoder_spec(config["encoder"])
    venv = _envs(
        config,
        encoder,
        1,
        config["seed"] + 10_000,
        training=False,
        changed_appearance=changed_appearance,
    )
    mean, std = evaluate_policy(
        model, venv, n_eval_episodes=episodes, deterministic=config["deterministic_eval"]
    )
    venv.close()
    return float(mean), float(std)


def _load(path: Path, venv: VecEnv, encoder: EncoderSpec) -> PPO:
    from mnv4_rl.sb3 import load_model

    if encoder.pretrained and not encoder.frozen:  # not the pretrained file again (it may be gone)
        return load_model(PPO, path, env=venv, device="cpu")
    return PPO.load(path, env=venv, device="cpu")


def _latest(folder: Path, algo: str) -> Path:
    found = sorted(folder.glob(f"{algo}_*_steps.zip"), key=lambda p: int(p.stem.split("_")[-2]))
    if not found:
        raise UsageError(f"no {algo}_<steps>_steps.zip in {folder} to restore from")
    return found[-1]


def _earlier_checkpoint(run_dir: Path, spec: RunSpec, settings: dict) -> Path | None:
    """The latest checkpoint of this run left by another study (another grid's Tune experiment
    under ``_tune/``, or a run by hand in ``checkpoints/``), when the run folder holds the same
    settings; None otherwise (the run then starts afresh)."""
    config = run_dir / "config.json"
    if not config.is_file() or json.loads(config.read_text()) != json.loads(json.dumps(settings)):
        return None
    candidates = [run_dir / "checkpoints"]
    candidates += (run_dir.parent / "_tune").glob(f"*/{spec.name}/checkpoint_*")
    found = []
    for folder in candidates:
        for sidecar in folder.glob(f"{spec.algo}_*_steps.json"):
            if sidecar.with_suffix(".zip").is_file():
                found.append((json.loads(sidecar.read_text())["steps"], str(folder)))
    return Path(max(found)[1]) if found else None


def train_run(
    config: dict[str, Any],
    *,
    restore: Path | None = None,
    report: Callable[[dict[str, Any], Path | None], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate one run of the study; returns its ``eval.json`` (or ``{"status": ...}``).

    Args:
        config: ``{"run": RunSpec fields, "runs_dir", "timesteps", "checkpoint_freq",
            "overrides"}`` (what :func:`mnv4_lab.study.engine.run_study` gives each trial).
        restore: a checkpoint folder (``<algo>_<steps>_steps.zip`` with its ``.json``) to continue
            from; ``None`` starts the run (deleting a folder left by a start that never reached a
            checkpoint).
        report: ``report(metrics, checkpoint_folder)``: where checkpoints go (Ray Tune); ``None``
            saves them into the run folder's ``checkpoints/``.

    Raises:
        UsageError: a bad setting, encoder spec or env.
    """
    import torch

    spec = RunSpec(**config["run"])
    runs_dir = Path(config["runs_dir"])
    run_dir = runs_dir / spec.name
    if (run_dir / "eval.json").is_file():
        return {"status": "done"}  # finished earlier (or elsewhere): nothing to do
    settings = run_config(spec, runs_dir, int(config["timesteps"]), config.get("overrides", {}))
    encoder = parse_encoder_spec(spec.encoder)
    torch.set_num_threads(int(settings["torch_threads"]))
    if restore is None:
        restore = _earlier_checkpoint(run_dir, spec, settings)
    if restore is None:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(json.dumps(settings, indent=2))
        run = Run(run_dir, spec.algo)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = _latest(Path(restore), spec.algo)
        previous = (
            json.loads((run_dir / "resume.json").read_text())
            if (run_dir / "resume.json").exists()
            else []
        )
        run = Run(run_dir, spec.algo, checkpoint, len(previous) + 1)
    venv = _envs(settings, encoder, settings["n_envs"], spec.seed, monitor_dir=str(run.monitor_dir))
    seconds_before = 0.0
    if run.resume_from is not None:
        state = json.loads(run.resume_from.with_suffix(".json").read_text())
        seconds_before = record_resume(run, state)
        normalize = run.resume_from.with_name(run.resume_from.stem + "_vecnormalize.pkl")
        if normalize.exists():
            venv = VecNormalize.load(str(normalize), venv)
        model = _load(run.resume_from, venv, encoder)
    else:
        if settings.get("normalize_reward"):
            venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=settings["gamma"])
        model = _build(settings, encoder, venv)

    def save(model: PPO, state: dict[str, Any]) -> None:
        if report is None:
            recorder.save_to_folder(model, state)
            return
        with tempfile.TemporaryDirectory() as folder:  # Tune copies it into its storage
            recorder.save_to_folder(model, state, Path(folder))
            report(
                {"agent_steps": state["steps"], "train_seconds": state["train_seconds"]},
                Path(folder),
            )

    recorder = RunRecorder(run, int(config["checkpoint_freq"]), seconds_before, save)
    throughput = ThroughputCallback()
    cpu_started = time.process_time()
    model.learn(
        total_timesteps=max(settings["timesteps"] - model.num_timesteps, 0),
        callback=CallbackList([recorder, throughput]),
        reset_num_timesteps=run.resume_from is None,
    )
    train_seconds = recorder.seconds
    cpu_seconds = time.process_time() - cpu_started  # this segment's; all threads of the process
    throughput.finish()
    venv.close()
    eval_started = time.perf_counter()
    mean, std = evaluate_run(model, settings, changed_appearance=False)
    changed_mean, changed_std = evaluate_run(model, settings, changed_appearance=True)
    kind = env_kind(spec.game)
    result = {
        "algo": spec.algo,
        "env": spec.game,
        "encoder": spec.encoder,
        "timesteps": int(model.num_timesteps),
        "eval_episodes": settings["eval_episodes"],
        "eval_return_mean": mean,
        "eval_return_std": std,
        "appearance": "domain_randomize" if kind == "carracing" else f"hue+{HUE_DEGREES:g}deg",
        "appearance_return_mean": changed_mean,
        "appearance_return_std": changed_std,
        "train_seconds": train_seconds,
        "steps_per_second": throughput.steps_per_second,
        "measured_steps": throughput.steps,
        "segment_cpu_seconds": cpu_seconds,
        "eval_seconds": time.perf_counter() - eval_started,
        "record_version": RECORD_VERSION,
    }
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2, allow_nan=False))
    model.save(run_dir / "final_model")
    if report is not None:
        report({"agent_steps": result["timesteps"], "done": True}, None)
    return result


def tune_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: :func:`train_run`, restored from Tune's last checkpoint."""
    from ray import tune

    def report(metrics: dict[str, Any], folder: Path | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(folder)) if folder is not None else None
        tune.report(metrics, checkpoint=checkpoint)

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        result = train_run(config, report=report)
    else:
        with checkpoint.as_directory() as folder:
            result = train_run(config, restore=Path(folder), report=report)
    if result.get("status") == "done":
        tune.report({"done": True, "skipped": True})
