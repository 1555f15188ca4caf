"""Shared test pieces: a tiny pixel env, its vector-env layouts, and timm checkpoints to load."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import timm
import torch
from gymnasium.wrappers import FrameStackObservation
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage

SIZE = 48
ROOT = Path(__file__).resolve().parents[1]


def markdown_section(page: str | Path, name: str) -> str:
    """The text between ``<!-- section:NAME -->`` and ``<!-- /section:NAME -->`` of a markdown page.

    Args:
        page: the page, relative to the repository root (``"README.md"``, ``"docs/rllib.md"``)
            or absolute.
        name: the section's name.

    Returns:
        The section's text, markers excluded.

    Raises:
        AssertionError: the page has no such section (the message names both).
    """
    text = (ROOT / page).read_text()
    found = re.search(rf"<!-- section:{name} -->(.*?)<!-- /section:{name} -->", text, re.S)
    assert found, f"{page} has no section {name!r}"
    return found.group(1)


def markdown_code(page: str | Path, name: str, language: str = "python") -> list[str]:
    """The fenced code blocks of ``language`` in one section of a markdown page, in order.

    Args:
        page: the page (see :func:`markdown_section`).
        name: the section's name.
        language: the fence's language word (``"python"``, ``"bash"``).

    Returns:
        Each block's text, fences excluded (may be empty).
    """
    return re.findall(rf"```{language}\n(.*?)```", markdown_section(page, name), re.S)


def markdown_commands(page: str | Path, name: str) -> list[str]:
    """The shell commands of a section's ``bash`` blocks: one string per command, continuation
    lines joined, comments and blank lines dropped.

    Args:
        page: the page (see :func:`markdown_section`).
        name: the section's name.

    Returns:
        The commands, in order.
    """
    commands = []
    for block in markdown_code(page, name, "bash"):
        lines = block.replace("\\\n", " ").splitlines()
        commands += [c for c in (line.split("#")[0].strip() for line in lines) if c]
    return commands


class ColourEnv(gym.Env):
    """A tiny RGB env: each frame is one random colour; the agent is paid for telling red from blue.

    Args:
        continuous: ``Box(-1, 1, (1,))`` actions (for SAC), else ``Discrete(2)``.
        as_float: float32 frames in [0, 1] instead of uint8 [0, 255].
        dict_obs: a ``Dict`` observation with the frame under "pixels" and a vector under "state".
    """

    def __init__(self, continuous: bool = False, as_float: bool = False, dict_obs: bool = False):
        self.as_float, self.dict_obs = as_float, dict_obs
        shape = (SIZE, SIZE, 3)
        pixels = (
            gym.spaces.Box(0.0, 1.0, shape, np.float32)
            if as_float
            else gym.spaces.Box(0, 255, shape, np.uint8)
        )
        state = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = (
            gym.spaces.Dict({"pixels": pixels, "state": state}) if dict_obs else pixels
        )
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if continuous else gym.spaces.Discrete(2)
        )
        self._colour = np.zeros(3, np.uint8)
        self._t = 0

    def _obs(self):
        frame = np.broadcast_to(self._colour, (SIZE, SIZE, 3)).copy()
        if self.as_float:
            frame = frame.astype(np.float32) / 255.0
        if self.dict_obs:
            return {"pixels": frame, "state": np.zeros(2, np.float32)}
        return frame

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._colour = self.np_random.integers(0, 256, 3).astype(np.uint8)
        return self._obs(), {}

    def step(self, action):
        red = self._colour[0] > self._colour[2]
        choice = float(np.asarray(action).ravel()[0]) > 0.5 if self._continuous else bool(action)
        reward = 1.0 if choice == red else 0.0
        self._t += 1
        self._colour = self.np_random.integers(0, 256, 3).astype(np.uint8)
        return self._obs(), reward, False, self._t >= 16, {}

    @property
    def _continuous(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Box)


def colour_vec_env(layout: str, n_envs: int = 2, **env_kwargs):
    """Two colour envs stacking 2 frames in ``layout``: ``"khwc"`` (gymnasium's
    FrameStackObservation on RGB, which NatureCNN rejects), ``"hwc"`` or ``"chw"``."""
    if layout == "khwc":
        env = DummyVecEnv([lambda: FrameStackObservation(ColourEnv(**env_kwargs), 2)] * n_envs)
        assert env.observation_space.shape == (2, SIZE, SIZE, 3)
        return env
    env = VecFrameStack(DummyVecEnv([lambda: ColourEnv(**env_kwargs)] * n_envs), n_stack=2)
    return VecTransposeImage(env) if layout == "chw" else env


def timm_checkpoint(
    folder: Path, name: str = "mobilenetv4_conv_small_050"
) -> tuple[torch.nn.Module, Path]:
    """A timm model with non-trivial BatchNorm statistics (as a trained checkpoint has), saved as
    a state dict; returns the model and the file."""
    model = timm.create_model(name)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = Path(folder) / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return model, path


def cache_timm_weights(cache: Path, hub_id: str) -> Path:
    """Save timm's architecture for ``hub_id`` (``"timm/mobilenetv4_<variant>.<tag>"``; random
    weights, no download) where the loader looks for that checkpoint when
    ``$MNV4_RL_WEIGHTS = cache``, as a reader who saved the file by hand has it; returns the file."""
    from safetensors.torch import save_file

    path = Path(cache) / hub_id / "model.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    architecture = hub_id.removeprefix("timm/").partition(".")[0]
    save_file(timm.create_model(architecture).state_dict(), str(path))
    return path


class PixelEnvForRLlib(gym.Wrapper):
    """The colour env as RLlib builds envs (from an ``env_config`` dict).

    ``env_config``: ``stack`` (gymnasium's FrameStackObservation on a new axis: 4-D obs),
    ``grey`` (1-channel frames), and the :class:`ColourEnv` keywords (``continuous``...).
    """

    def __init__(self, config: dict | None = None) -> None:
        config = dict(config or {})
        stack, grey = config.pop("stack", 0), config.pop("grey", False)
        env: gym.Env = ColourEnv(**config)
        if grey:
            env = gym.wrappers.GrayscaleObservation(env, keep_dim=True)
        if stack:
            env = FrameStackObservation(env, stack)
        super().__init__(env)


def policy_scores(model, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A PPO or DQN model's deterministic actions and scores (logits or Q-values) for ``obs``, in
    eval mode: what a saved and reloaded model must reproduce."""
    actions, _ = model.predict(obs, deterministic=True)
    with torch.no_grad():
        tensor = model.policy.obs_to_tensor(obs)[0]
        model.policy.set_training_mode(False)
        if hasattr(model, "q_net"):
            scores = model.q_net(tensor)
        else:
            scores = model.policy.get_distribution(tensor).distribution.logits
    return actions, scores.numpy()
