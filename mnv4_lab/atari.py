"""Atari environments, encoder choices and a throughput callback shared by the examples and the
benchmark (``examples/atari_ppo.py``, ``examples/atari_dqn.py``, ``mnv4-rl-bench``).

Preprocessing is SB3's standard one: ``make_atari_env`` (``AtariWrapper``: noop reset, frame skip 4
with max-pooling, 84x84 grayscale, FIRE reset, episodic life and sign-clipped rewards for training)
followed by ``VecFrameStack(4)``, giving ``(84, 84, 4)`` uint8 observations; SB3's algorithms
transpose them (``VecTransposeImage``), so encoders see channel-first ``(4, 84, 84)`` stacks.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecFrameStack

from mnv4_rl.sb3 import SB3_ENCODERS
from mnv4_rl.weights import CheckpointError, WeightsNotFoundError

from .errors import UsageError

#: Encoder names accepted by the examples: SB3's NatureCNN, IMPALA-CNN and the MobileNetV4 names.
ENCODERS = SB3_ENCODERS

FRAME_STACK = 4


def register_ale() -> None:
    """Register ale-py's environments with gymnasium (the ROMs ship inside the ale-py wheel)."""
    try:
        import ale_py
    except ImportError as err:  # pragma: no cover - ale-py is a declared dependency
        raise ImportError(
            "Atari needs ale-py: pip install 'mnv4_rl[atari]' (or pip install ale-py)"
        ) from err
    gym.register_envs(ale_py)


def resolve_env_id(env: str) -> tuple[str, dict[str, Any]]:
    """Map a game name or env id to an id that SB3's ``AtariWrapper`` may wrap, plus env kwargs.

    ``"Pong"`` becomes ``"PongNoFrameskip-v4"``. ``*NoFrameskip-v4`` ids pass unchanged.
    ``ALE/<Game>-v5`` ids skip 4 frames themselves, so they get ``frameskip=1`` (with a warning)
    to keep the wrapper's skip the only one; their sticky actions (0.25) are kept.
    Other ids that skip frames (``Pong-v4``, ``Pong-v0``) raise ``ValueError``.
    """
    register_ale()
    if "/" not in env and "-v" not in env:
        env = f"{env}NoFrameskip-v4"
    try:
        spec = gym.spec(env)
    except gym.error.Error as err:
        raise UsageError(
            f"unknown Atari env {env!r} ({err}); pass a game name ('Pong'), "
            "'<Game>NoFrameskip-v4' or 'ALE/<Game>-v5'"
        ) from None
    if "ale_py" not in str(spec.entry_point):
        raise UsageError(
            f"{env!r} is not an Atari game: these examples train on ale-py games ('Pong', "
            "'BreakoutNoFrameskip-v4', 'ALE/Breakout-v5'); for other pixel envs build the "
            "algorithm yourself with mnv4_rl.sb3.mnv4_policy_kwargs"
        )
    if env.startswith("ALE/") and env.endswith("-v5"):
        warnings.warn(
            f"{env} skips 4 frames itself and AtariWrapper skips 4 more; creating it with "
            "frameskip=1 so frames are skipped once (sticky actions 0.25 are kept)",
            UserWarning,
            stacklevel=2,
        )
        return env, {"frameskip": 1}
    if "NoFrameskip" not in env:
        raise UsageError(
            f"env {env!r} already skips frames, and AtariWrapper would skip 4 more; use "
            f"'<Game>NoFrameskip-v4' (e.g. 'PongNoFrameskip-v4'), a game name ('Pong') or "
            f"'ALE/<Game>-v5'"
        )
    return env, {}


def make_atari_envs(
    env: str,
    n_envs: int = 8,
    seed: int = 0,
    *,
    training: bool = True,
    monitor_dir: str | None = None,
    subprocess: bool = False,
    stack: bool = True,
) -> VecEnv:
    """Build ``n_envs`` preprocessed Atari envs with a 4-frame stack.

    Args:
        env: game name (``"Pong"``) or env id (``"PongNoFrameskip-v4"``, ``"ALE/Pong-v5"``).
        n_envs: number of parallel envs.
        seed: seed of the first env; env ``i`` gets ``seed + i``.
        training: True: episodic life and reward clipping (as in training). False: full games and
            raw scores (for evaluation).
        monitor_dir: where SB3's ``Monitor`` writes one ``*.monitor.csv`` per env (None: no file).
        subprocess: run each env in its own process (``SubprocVecEnv``) instead of in-process.
        stack: stack 4 frames (False: single frames, for a wrapper that stacks features).
    """
    env_id, env_kwargs = resolve_env_id(env)
    wrapper_kwargs = {} if training else {"terminal_on_life_loss": False, "clip_reward": False}
    vec_env = make_atari_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        monitor_dir=monitor_dir,
        wrapper_kwargs=wrapper_kwargs,
        env_kwargs=env_kwargs,
        vec_env_cls=SubprocVecEnv if subprocess else DummyVecEnv,
    )
    return VecFrameStack(vec_env, n_stack=FRAME_STACK) if stack else vec_env


class ThroughputCallback(BaseCallback):
    """Agent steps per wall-clock second, SB3's ``time/fps`` definition, optionally after a start.

    Counts ``num_timesteps`` (summed over envs) between the first step at or past ``start_after``
    (``0``: the start of ``learn()``) and the end of training; the wall clock includes updates.
    For DQN pass ``learning_starts`` so that only steps with gradient updates are measured.
    """

    def __init__(self, start_after: int = 0) -> None:
        super().__init__()
        self.start_after = start_after
        self._t0: float | None = None
        self._steps0 = 0
        self.seconds = 0.0
        self.steps = 0

    def _begin(self) -> None:
        self._t0 = time.perf_counter()
        self._steps0 = self.num_timesteps

    def _on_training_start(self) -> None:
        if self.start_after <= 0:
            self._begin()

    def _on_step(self) -> bool:
        if self._t0 is None and self.num_timesteps >= self.start_after:
            self._begin()
        return True

    def _on_training_end(self) -> None:
        self.finish()

    def finish(self) -> None:
        """Stop the clock (SB3 calls this at the end of ``learn``; call it after an interrupt)."""
        if self._t0 is not None and not self.seconds:
            self.seconds = time.perf_counter() - self._t0
            self.steps = self.num_timesteps - self._steps0

    @property
    def steps_per_second(self) -> float:
        """Measured agent steps per second (0.0 if nothing was measured)."""
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def read_weights_first(policy_kwargs: dict) -> None:
    """Build the encoder once, reading its pretrained weights, before the run folder exists: a
    missing file or an unreachable hub checkpoint fails here and leaves nothing behind."""
    obs = spaces.Box(0, 255, (FRAME_STACK, 84, 84), np.uint8)  # what SB3 hands the policy
    try:
        policy_kwargs["features_extractor_class"](obs, **policy_kwargs["features_extractor_kwargs"])
    except (WeightsNotFoundError, CheckpointError) as error:  # one line, as for a bad --env
        raise UsageError(str(error)) from None
