"""RGB environments for the lab: CarRacing-v3 and Atari with ``obs_type="rgb"``, and the
change-of-appearance versions every trained policy is also evaluated on.

- **CarRacing-v3**: 96x96 RGB frames, continuous actions (steer, gas, brake). As rl-zoo's PPO
  setting: each action is repeated for 2 frames (rewards summed), 2 frames stacked; unlike it,
  frames stay 96x96 RGB (rl-zoo resizes to 64x64 and turns them gray). Stacks are
  ``(96, 96, 6)`` uint8: frame 0's R, G, B, then frame 1's. The change of appearance is the env's
  own ``domain_randomize=True``: grass and track get new colours at every reset.
- **Atari RGB** (game names with ``:rgb``, e.g. ``"Breakout:rgb"``): SB3's Atari preprocessing
  (noop reset, frame skip 4 with max-pooling, episodic life, FIRE reset, reward clipping for
  training) but frames resized to 84x84 RGB instead of gray; 4 frames stacked, ``(84, 84, 12)``.
- **Hue rotation** (:class:`HueRotation`), the change of appearance for Atari: every raw frame's
  hue turned by a fixed angle (in HSV), before any other preprocessing, so gray pipelines see it
  too (gray levels move, because gray weighs R, G and B differently).

Each Monitor sits on the raw env, as in SB3's ``make_atari_env``: ``l`` counts env frames, not
agent steps (the true agent-step counter is written by :class:`mnv4_lab.runs.RunRecorder`).
"""

from __future__ import annotations

from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.atari_wrappers import (
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

from .errors import UsageError

__all__ = [
    "CARRACING",
    "HUE_DEGREES",
    "FrameSkip",
    "HueRotation",
    "env_kind",
    "frame_stack",
    "hue_rotate",
    "make_atari_rgb_envs",
    "make_carracing_envs",
    "make_envs",
]

CARRACING = "CarRacing-v3"
#: The fixed hue rotation of the Atari change-of-appearance evaluation, in degrees.
HUE_DEGREES = 180.0
CARRACING_SKIP = 2  # rl-zoo's FrameSkip(skip=2)
CARRACING_STACK = 2  # rl-zoo's frame_stack: 2
ATARI_STACK = 4


def env_kind(env: str) -> str:
    """``"carracing"``, ``"atari_rgb"`` (a name ending in ``:rgb``) or ``"atari"`` (gray)."""
    if env.split(":")[0] in (CARRACING, "CarRacing"):
        return "carracing"
    if env.endswith(":rgb"):
        return "atari_rgb"
    if ":" in env:
        raise UsageError(f"unknown env suffix in {env!r}: the only one is ':rgb' (Atari in RGB)")
    return "atari"


def hue_rotate(frame: np.ndarray, degrees: float = HUE_DEGREES) -> np.ndarray:
    """``frame`` (``(..., H, W, 3)`` RGB uint8) with every pixel's hue turned by ``degrees``.

    Saturation and value are kept; gray pixels (no saturation) do not change.

    Raises:
        ValueError: not an RGB uint8 frame.
    """
    if frame.dtype != np.uint8 or frame.shape[-1] != 3:
        raise ValueError(
            f"hue_rotate needs RGB uint8 frames (..., 3), got {frame.dtype} {frame.shape}"
        )
    flat = frame.reshape(-1, frame.shape[-2], 3).astype(np.float32) / 255.0
    hsv = cv2.cvtColor(flat, cv2.COLOR_RGB2HSV)  # float input: hue in degrees, [0, 360)
    hsv[..., 0] = (hsv[..., 0] + degrees) % 360.0
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(frame.shape)


class HueRotation(gym.ObservationWrapper):
    """Turns the hue of an RGB env's frames by a fixed angle (see :func:`hue_rotate`).

    Raises:
        ValueError: the observation space is not ``(H, W, 3)`` uint8.
    """

    def __init__(self, env: gym.Env, degrees: float = HUE_DEGREES) -> None:
        super().__init__(env)
        space = env.observation_space
        if not (
            isinstance(space, spaces.Box) and space.dtype == np.uint8 and space.shape[-1:] == (3,)
        ):
            raise ValueError(
                f"HueRotation needs RGB frames (H, W, 3) uint8, got {space}; for Atari create the "
                "env with obs_type='rgb' (the default of *NoFrameskip-v4)"
            )
        self.degrees = degrees

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return hue_rotate(observation, self.degrees)


class FrameSkip(gym.Wrapper):
    """Repeats each action ``skip`` times and sums the rewards, stopping at the episode's end."""

    def __init__(self, env: gym.Env, skip: int = CARRACING_SKIP) -> None:
        super().__init__(env)
        self.skip = skip

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        total = 0.0
        for _ in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class ResizeRGB(gym.ObservationWrapper):
    """RGB frames resized to ``size x size`` (area interpolation, as SB3's gray ``WarpFrame``)."""

    def __init__(self, env: gym.Env, size: int = 84) -> None:
        super().__init__(env)
        self.size = size
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return cv2.resize(observation, (self.size, self.size), interpolation=cv2.INTER_AREA)


def make_carracing_envs(
    n_envs: int = 8,
    seed: int = 0,
    *,
    monitor_dir: str | None = None,
    domain_randomize: bool = False,
    max_episode_steps: int | None = None,
    stack: bool = True,
) -> VecEnv:
    """``n_envs`` CarRacing-v3 envs: RGB 96x96, action repeat 2, 2 frames stacked ``(96, 96, 6)``.

    Args:
        n_envs: parallel envs (env ``i`` seeded ``seed + i``).
        seed: seed of the first env.
        monitor_dir: where each env's Monitor writes ``<i>.monitor.csv`` (None: no file).
        domain_randomize: new grass and track colours at every reset (the change of appearance).
        max_episode_steps: env frames per episode (None: the env's 1000); short ones for tests.
        stack: stack 2 frames (False: single frames, for a wrapper that stacks features).

    Returns:
        A ``VecFrameStack`` over a ``DummyVecEnv``.

    Raises:
        UsageError: Box2D is not installed (the message names the extra).
    """
    try:
        import Box2D  # noqa: F401 - gymnasium's own hint (swig, gymnasium[box2d]) fails here
    except ImportError:
        raise UsageError(
            "CarRacing-v3 needs Box2D and pygame: pip install 'mnv4_rl[carracing]' (the box2d "
            "2.3.10 wheel; gymnasium's box2d extra builds box2d-py with swig)"
        ) from None
    env_kwargs: dict[str, Any] = {"domain_randomize": domain_randomize}
    if max_episode_steps is not None:
        env_kwargs["max_episode_steps"] = max_episode_steps
    venv = make_vec_env(
        CARRACING,
        n_envs=n_envs,
        seed=seed,
        monitor_dir=monitor_dir,
        env_kwargs=env_kwargs,
        wrapper_class=FrameSkip,
    )
    return VecFrameStack(venv, n_stack=CARRACING_STACK) if stack else venv


def _atari_wrapper(training: bool, rgb: bool, hue: float | None):
    """SB3's ``AtariWrapper`` steps, with an optional hue rotation first and RGB frames."""
    from stable_baselines3.common.atari_wrappers import WarpFrame

    def wrap(env: gym.Env) -> gym.Env:
        if hue is not None:
            env = HueRotation(env, hue)
        env = NoopResetEnv(env, noop_max=30)
        env = MaxAndSkipEnv(env, skip=4)
        if training:
            env = EpisodicLifeEnv(env)
        if "FIRE" in env.unwrapped.get_action_meanings():
            env = FireResetEnv(env)
        env = ResizeRGB(env, 84) if rgb else WarpFrame(env, width=84, height=84)
        if training:
            env = ClipRewardEnv(env)
        return env

    return wrap


def make_atari_rgb_envs(
    env: str,
    n_envs: int = 8,
    seed: int = 0,
    *,
    training: bool = True,
    monitor_dir: str | None = None,
    rgb: bool = True,
    hue: float | None = None,
    stack: bool = True,
) -> VecEnv:
    """Atari envs with SB3's preprocessing, in RGB (``rgb=True``) or gray, optionally hue-rotated.

    Args:
        env: game name (``"Breakout"``, with or without ``":rgb"``) or env id.
        n_envs: parallel envs (env ``i`` seeded ``seed + i``).
        seed: seed of the first env.
        training: episodic life and clipped rewards (False: full games, raw scores).
        monitor_dir: where each env's Monitor writes ``<i>.monitor.csv``.
        rgb: 84x84 RGB frames (``(84, 84, 12)`` stacks); False: 84x84 gray (``(84, 84, 4)``).
        hue: turn every raw frame's hue by this many degrees (None: unchanged).
        stack: stack 4 frames (False: single frames).
    """
    from .atari import resolve_env_id

    env_id, env_kwargs = resolve_env_id(env.split(":")[0])
    venv = make_vec_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        monitor_dir=monitor_dir,
        env_kwargs={**env_kwargs, "obs_type": "rgb"},
        wrapper_class=_atari_wrapper(training, rgb, hue),
    )
    return VecFrameStack(venv, n_stack=ATARI_STACK) if stack else venv


def frame_stack(env: str) -> int:
    """Frames per observation the lab stacks for ``env`` (CarRacing 2, Atari 4)."""
    return CARRACING_STACK if env_kind(env) == "carracing" else ATARI_STACK


def make_envs(
    env: str,
    n_envs: int,
    seed: int,
    *,
    training: bool = True,
    monitor_dir: str | None = None,
    changed_appearance: bool = False,
    max_episode_steps: int | None = None,
    stack: bool = True,
) -> VecEnv:
    """The lab's envs by name: ``"CarRacing-v3"``, ``"Breakout:rgb"`` or a gray Atari game.

    Args:
        env: see :func:`env_kind`.
        n_envs: parallel envs.
        seed: seed of the first env.
        training: Atari only: episodic life and clipped rewards.
        monitor_dir: Monitor files' folder.
        changed_appearance: CarRacing: ``domain_randomize=True``; Atari: hue turned by
            :data:`HUE_DEGREES`.
        max_episode_steps: CarRacing only (tests).
        stack: stack :func:`frame_stack` frames (False: single frames).
    """
    kind = env_kind(env)
    if kind == "carracing":
        return make_carracing_envs(
            n_envs,
            seed,
            monitor_dir=monitor_dir,
            domain_randomize=changed_appearance,
            max_episode_steps=max_episode_steps,
            stack=stack,
        )
    hue = HUE_DEGREES if changed_appearance else None
    if kind == "atari" and hue is None:
        from .atari import make_atari_envs

        return make_atari_envs(
            env, n_envs, seed, training=training, monitor_dir=monitor_dir, stack=stack
        )
    return make_atari_rgb_envs(
        env,
        n_envs,
        seed,
        training=training,
        monitor_dir=monitor_dir,
        rgb=kind == "atari_rgb",
        hue=hue,
        stack=stack,
    )
