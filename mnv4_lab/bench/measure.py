"""The measurements: encoder-only timings (in process) and end-to-end SB3 training throughput (each
run in a fresh subprocess, so that its peak memory is its own).

Run one end-to-end measurement by hand: ``python -m mnv4_lab.bench.worker '<json config>'``; it
prints one JSON line (see :func:`run_end_to_end`).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from mnv4_rl.zoo import ATARI, schedule_start

from .encoders import parse_encoder, policy_kwargs

#: rl-zoo's Atari hyperparameters from the one table (``mnv4_rl.zoo.ATARI``), as SB3 takes them:
#: the learning rate and clip range start values (decayed linearly to 0 below).
PPO_ZOO = {
    key: schedule_start(value) if key in ("learning_rate", "clip_range") else value
    for key, value in ATARI["ppo"].items()
    if key
    in ("n_steps", "batch_size", "n_epochs", "ent_coef", "vf_coef", "learning_rate", "clip_range")
}
DQN_ZOO = {
    key: ATARI["dqn"][key]
    for key in (
        "learning_rate", "batch_size", "target_update_interval", "train_freq", "gradient_steps",
        "exploration_fraction", "exploration_final_eps",
    )
}  # fmt: skip


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def calls_per_second(
    fn: Callable[[], Any], device: torch.device, min_seconds: float, min_calls: int = 3
) -> float:
    """Calls of ``fn`` per second: 2 warm-up calls, then calls until both ``min_seconds`` have
    passed and ``min_calls`` were made (the GPU is synchronised before reading the clock)."""
    for _ in range(2):
        fn()
    _sync(device)
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= min_calls:
            return calls / elapsed


def forward_samples_per_second(
    extractor: nn.Module, batch: int, shape: tuple[int, ...], device: torch.device, seconds: float
) -> float:
    """Acting: eval mode, ``torch.no_grad``, a batch of ``batch`` observations (as SB3's rollout
    with ``n_envs`` envs). Inputs are floats in [0, 1], as SB3's ``preprocess_obs`` hands them."""
    x = torch.rand(batch, *shape, device=device)
    extractor.eval()

    def step() -> None:
        with torch.no_grad():
            extractor(x)

    return batch * calls_per_second(step, device, seconds)


def train_samples_per_second(
    extractor: nn.Module, batch: int, shape: tuple[int, ...], device: torch.device, seconds: float
) -> float:
    """Training step: train mode, forward + backward + Adam step on a batch of ``batch``
    observations (PPO's minibatch is 256, DQN's batch 32). The loss is the mean squared feature."""
    x = torch.rand(batch, *shape, device=device)
    optimizer = torch.optim.Adam(extractor.parameters(), lr=1e-6)
    extractor.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        extractor(x).pow(2).mean().backward()
        optimizer.step()

    result = batch * calls_per_second(step, device, seconds)
    extractor.eval()
    return result


def peak_rss_mb() -> float:
    """Peak resident memory of this process image in MiB: ``VmHWM`` from ``/proc/self/status``.

    Not ``ru_maxrss``: Linux carries it across ``fork`` + ``exec``, so a subprocess would report
    its parent's peak when that is higher. ``ru_maxrss`` is the fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class EndToEndConfig:
    """One end-to-end training measurement.

    Attributes:
        algo: ``"ppo"`` or ``"dqn"``.
        encoder: an encoder spec string (see :mod:`mnv4_lab.bench.encoders`).
        extractor_kwargs: shared extractor kwargs (``--extractor-kwargs``).
        env: Atari game or env id.
        n_envs: PPO's envs (DQN uses 1, as rl-zoo).
        steps: agent steps measured (PPO: rounded up to whole rollouts of ``128 * n_envs``;
            DQN: steps after ``learning_starts``).
        learning_starts: DQN only: random steps that fill the buffer before updates begin.
        device: ``"cpu"`` or ``"cuda"``.
        seed: seed of model and envs.
        torch_threads: ``torch.set_num_threads`` (0: torch's default).
        tune_malloc: call :func:`mnv4_lab.tune_malloc` first (glibc keeps freed memory for reuse).
    """

    algo: str
    encoder: str
    extractor_kwargs: dict[str, Any]
    env: str = "Pong"
    n_envs: int = 8
    steps: int = 2048
    learning_starts: int = 1000
    device: str = "cpu"
    seed: int = 0
    torch_threads: int = 0
    tune_malloc: bool = False


def run_end_to_end(config: EndToEndConfig) -> dict[str, float]:
    """Train with SB3 and rl-zoo's Atari hyperparameters; return the measured throughput.

    Returns ``steps_per_second`` (agent steps summed over envs per wall second, updates included:
    SB3's ``time/fps``; for DQN counted after ``learning_starts``), ``steps``, ``seconds``,
    ``peak_rss_mb`` (this process's peak resident memory, :func:`peak_rss_mb`) and, on CUDA,
    ``cuda_peak_mb`` (``torch.cuda.max_memory_allocated``).
    """
    from stable_baselines3 import DQN, PPO

    from mnv4_rl.sb3.augmented import drq_policy

    from ..atari import ThroughputCallback, make_atari_envs
    from ..malloc import tune_malloc

    if config.tune_malloc:
        tune_malloc()
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    encoder = parse_encoder(config.encoder, config.extractor_kwargs)
    kwargs = policy_kwargs(encoder, config.algo)
    if config.algo == "ppo":
        env = make_atari_envs(config.env, config.n_envs, config.seed)
        rollout = PPO_ZOO["n_steps"] * config.n_envs
        total = -(-config.steps // rollout) * rollout
        zoo = dict(PPO_ZOO)
        lr, clip = zoo.pop("learning_rate"), zoo.pop("clip_range")
        model = PPO(
            "CnnPolicy",
            env,
            learning_rate=lambda remaining: remaining * lr,
            clip_range=lambda remaining: remaining * clip,
            policy_kwargs=kwargs,
            device=config.device,
            seed=config.seed,
            **zoo,
        )
        callback = ThroughputCallback()
    elif config.algo == "dqn":
        env = make_atari_envs(config.env, 1, config.seed)
        total = config.learning_starts + config.steps
        # The buffer holds the whole run; rl-zoo's 100k buffer would only add untouched memory.
        augmented = kwargs.get("features_extractor_kwargs", {}).get("augment") not in (None, "none")
        model = DQN(
            drq_policy("dqn") if augmented else "CnnPolicy",  # DrQ: the target shifts too
            env,
            buffer_size=total,
            learning_starts=config.learning_starts,
            policy_kwargs=kwargs,
            device=config.device,
            seed=config.seed,
            **DQN_ZOO,
        )
        callback = ThroughputCallback(start_after=config.learning_starts)
    else:
        raise ValueError(f"unknown algo {config.algo!r}; known: 'ppo', 'dqn'")
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    model.learn(total_timesteps=total, callback=callback)
    env.close()
    result = {
        "steps_per_second": callback.steps_per_second,
        "steps": float(callback.steps),
        "seconds": callback.seconds,
        "peak_rss_mb": peak_rss_mb(),
    }
    if model.device.type == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated(model.device) / 2**20
    return result


def end_to_end_in_subprocess(config: EndToEndConfig, timeout: float | None = None) -> dict:
    """:func:`run_end_to_end` in a fresh Python process (own peak memory, no shared state)."""
    command = [sys.executable, "-m", "mnv4_lab.bench.worker", json.dumps(asdict(config))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"end-to-end run {config.algo} {config.encoder} failed (exit {done.returncode}):\n"
            + done.stderr[-3000:]
        )
    return json.loads(lines[-1])
