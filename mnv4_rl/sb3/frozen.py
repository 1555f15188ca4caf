"""A frozen pretrained MobileNetV4 as an SB3 ``VecEnvWrapper``: frames in, stacked features out.

::

    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_atari_env
    from mnv4_rl.sb3 import VecFrozenEncoder, frozen_policy_kwargs

    venv = VecFrozenEncoder(make_atari_env("BreakoutNoFrameskip-v4", n_envs=8), "nano",
                            pretrained=True, n_stack=4)
    model = PPO("MlpPolicy", venv, policy_kwargs=frozen_policy_kwargs())
    venv.save("frozen.pt")  # self-contained: the weights are inside

The encoding is :class:`mnv4_rl.frozen.FrozenFrameEncoder` and the stacking
:class:`mnv4_rl.frozen.FeatureStack`, shared with the gymnasium wrapper
:class:`mnv4_rl.wrappers.FrozenEncoderObservation`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecFrameStack
from torch import nn

from ..frozen import FeatureStack, FrozenFrameEncoder, check_dtype, check_n_stack

__all__ = ["FeatureMLP", "VecFrozenEncoder", "frozen_policy_kwargs"]


def _frame_stacks_below(venv: VecEnv) -> list[str]:
    """Names of frame-stacking wrappers in ``venv``'s chain (outermost first)."""
    found, current = [], venv
    while current is not None:
        if isinstance(current, VecFrameStack):
            found.append(type(current).__name__)
        current = getattr(current, "venv", None)
    return found


class VecFrozenEncoder(VecEnvWrapper):
    """Encode every env's new frame once with a frozen pretrained MobileNetV4; stack the vectors.

    All envs' frames of a step go through the network in one batched forward (eval mode, no
    grad, BatchNorm fused once, channels-last). The wrapper keeps the last ``n_stack`` feature
    vectors per env, oldest first, and starts an env's stack afresh (zeros, then the first
    vector) when it is done, as ``VecFrameStack`` does with frames. ``terminal_observation`` in
    ``infos`` is replaced by the stack that ends the episode, so SB3 bootstraps truncated
    episodes from features too.

    The observation space is a 1-D ``Box`` of ``n_stack * features_dim``, float32 (or float16
    with ``dtype``: half the replay memory; SB3's policies compute in float32 either way).

    Order: this wrapper goes directly on the frames, below nothing that stacks frames; it stacks
    the feature vectors itself (``n_stack``). ``VecNormalize`` or ``VecMonitor`` may go on top.

    Args:
        venv: a vector env of image frames (one frame per observation: ``(84, 84, 1)`` Atari,
            ``(H, W, 3)`` RGB, ``(c, H, W)``...).
        encoder: a :func:`mnv4_rl.create_model` name, or a built
            :class:`~mnv4_rl.frozen.FrozenFrameEncoder`.
        pretrained: ``True`` (timm's ImageNet weights), a hub id, a local file or a state dict.
        n_stack: feature vectors kept per env (>= 1).
        layer: ``None`` (pooled pre-logits) or an earlier map (``"stem"``, ``"blocks.<i>"``, ``i``).
        pool: ``"avg"`` or ``"flatten"`` for ``layer``.
        dtype: ``np.float32`` (default) or ``np.float16`` for the stacked features.
        **encoder_kwargs: :class:`~mnv4_rl.frozen.FrozenFrameEncoder` options (``layout``,
            ``frame_channels``, ``normalized_image``, ``channels_last``, ``device``).

    Raises:
        TypeError: the observations are not a ``Box`` of frames.
        ValueError: ``n_stack < 1``, a frame stack below this wrapper, an unknown ``layer``,
            frames too small; each message names the fix.
    """

    def __init__(
        self,
        venv: VecEnv,
        encoder: str | FrozenFrameEncoder = "nano",
        pretrained: bool | str | Path | dict | None = True,
        n_stack: int = 1,
        layer: str | int | None = None,
        pool: str = "avg",
        dtype: Any = np.float32,
        **encoder_kwargs: Any,
    ) -> None:
        self.n_stack = check_n_stack(n_stack)
        self.dtype = check_dtype(dtype)
        stacks = _frame_stacks_below(venv)
        if stacks:
            raise ValueError(
                f"VecFrozenEncoder is on top of {stacks[0]}: it would encode stacks of frames. "
                "Put it directly on the frames and let it stack feature vectors instead: "
                f"VecFrozenEncoder(venv_without_{stacks[0]}, ..., n_stack=<frames you stacked>)"
            )
        space = venv.observation_space
        if not isinstance(space, spaces.Box):
            raise TypeError(
                f"VecFrozenEncoder needs a Box observation space of image frames, got "
                f"{type(space).__name__}"
                + (
                    "; for Dict observations, keep the image key only (e.g. "
                    "gymnasium.wrappers.FilterObservation) before vectorising"
                    if isinstance(space, spaces.Dict)
                    else ""
                )
            )
        if isinstance(encoder, FrozenFrameEncoder):
            encoder.check_space(space, "this venv")
            self.encoder = encoder
        else:
            self.encoder = FrozenFrameEncoder(
                space, encoder, pretrained, layer=layer, pool=pool, **encoder_kwargs
            )
        dim = self.encoder.features_dim
        shape = (self.n_stack * dim,)
        observation_space = spaces.Box(-np.inf, np.inf, shape, self.dtype)
        super().__init__(venv, observation_space=observation_space)
        self.features = FeatureStack(venv.num_envs, self.n_stack, dim, self.dtype)

    @property
    def features_dim(self) -> int:
        """Width of one frame's feature vector (the observation is ``n_stack`` of them)."""
        return self.encoder.features_dim

    def encode(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """Feature vectors of a batch of raw frames, as the env gives them:
        ``(B, *frame_shape) -> (B, features_dim)`` float32 (no stacking)."""
        return self.encoder.encode(frames)

    def reset(self) -> np.ndarray:
        return self.features.reset(self.encode(self.venv.reset()))

    def step_wait(self):
        frames, rewards, dones, infos = self.venv.step_wait()
        ended = [i for i, info in enumerate(infos) if dones[i] and "terminal_observation" in info]
        batch = frames
        if ended:  # the episodes' last frames go through the same forward as the new ones
            terminal = np.stack([infos[i]["terminal_observation"] for i in ended])
            batch = np.concatenate([frames, terminal.astype(frames.dtype, copy=False)])
        encoded = self.encode(batch)
        n = len(frames)
        last = {index: encoded[n + j] for j, index in enumerate(ended)}
        stacks, finished = self.features.step(encoded[:n], dones, last)
        for index, stack in finished.items():
            infos[index]["terminal_observation"] = stack
        return stacks, rewards, dones, infos

    # ------------------------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike | io.BytesIO) -> None:
        """Write the wrapper to ``path``: its options and the encoder's weights (self-contained,
        like ``VecNormalize.save``; the pretrained checkpoint is not needed to load it)."""
        self.encoder.save(path, n_stack=self.n_stack, stack_dtype=self.dtype.str)

    @classmethod
    def load(
        cls, path: str | os.PathLike | io.BytesIO, venv: VecEnv, device: str = "cpu"
    ) -> VecFrozenEncoder:
        """A wrapper written by :meth:`save`, around ``venv``.

        Raises:
            ValueError: ``venv``'s frames differ from the saved ones (shape, channels, dtype),
                or the file is not a saved frozen encoder.
        """
        state = FrozenFrameEncoder.read(path)
        encoder = FrozenFrameEncoder.from_state(state, device)
        encoder.check_space(venv.observation_space, "the venv given to load")
        dtype = np.dtype(state.get("stack_dtype", "<f4"))
        return cls(venv, encoder, n_stack=int(state.get("n_stack", 1)), dtype=dtype)


class FeatureMLP(BaseFeaturesExtractor):
    """``Linear(n_stack * features_dim, features_dim) -> ReLU`` on a frozen encoder's stacked
    features: the trainable head shared by actor and critic, as NatureCNN's last layer is.

    Args:
        observation_space: the 1-D ``Box`` of :class:`VecFrozenEncoder`.
        features_dim: width of the layer (512, as NatureCNN's).
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 512) -> None:
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise TypeError(
                f"FeatureMLP takes a 1-D Box of features (VecFrozenEncoder's), got "
                f"{observation_space}"
            )
        super().__init__(observation_space, features_dim)
        self.linear = nn.Sequential(
            nn.Linear(int(observation_space.shape[0]), features_dim), nn.ReLU()
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(observations)


def frozen_policy_kwargs(algo: str = "ppo", features_dim: int = 512) -> dict[str, Any]:
    """``policy_kwargs`` for ``"MlpPolicy"`` on :class:`VecFrozenEncoder` features: one shared
    ``features_dim`` layer (:class:`FeatureMLP`) and SB3's NatureCNN heads for PPO/A2C/DQN, so
    only the encoder differs from ``CnnPolicy``; SAC keeps its ``[256, 256]`` heads."""
    net_arch: list[int] = [256, 256] if algo.lower() == "sac" else []
    return {
        "features_extractor_class": FeatureMLP,
        "features_extractor_kwargs": {"features_dim": features_dim},
        "net_arch": net_arch,
    }
