"""Gymnasium wrappers: a frozen pretrained MobileNetV4 as a single env's observation transform.

:class:`FrozenEncoderObservation` works under any library that takes a gymnasium env (RLlib's
env runners, CleanRL, TorchRL's ``GymEnv``...). It shares its encoder and feature stack with
the SB3 wrapper :class:`mnv4_rl.sb3.VecFrozenEncoder` (:mod:`mnv4_rl.frozen`). Needs gymnasium
(``pip install 'mnv4_rl[sb3]'`` or ``'mnv4_rl[rllib]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._extras import require

require("gymnasium", "sb3", "mnv4_rl.wrappers")

import gymnasium as gym  # noqa: E402

from .frozen import FeatureStack, FrozenFrameEncoder, check_dtype, check_n_stack  # noqa: E402

__all__ = ["FrozenEncoderObservation"]


class FrozenEncoderObservation(gym.Wrapper):
    """One env's frames to the stacked feature vectors of a frozen pretrained MobileNetV4.

    Each new frame is encoded once (eval mode, no grad, BatchNorm fused once); the last
    ``n_stack`` vectors are kept oldest first, zeros before the episode's first, and start afresh
    at every ``reset``. The observation space is a 1-D float32 (or ``dtype``) ``Box`` of
    ``n_stack * features_dim``.

    Args:
        env: an env whose observations are single image frames (no frame stack below: this
            wrapper stacks feature vectors itself).
        encoder: a :func:`mnv4_rl.create_model` name, a built
            :class:`~mnv4_rl.frozen.FrozenFrameEncoder`, or the path of a file saved by
            :meth:`FrozenFrameEncoder.save` / ``VecFrozenEncoder.save``.
        pretrained: for a name: ``True``, a hub id, a local checkpoint file or a state dict.
        n_stack: feature vectors kept (>= 1); a saved ``VecFrozenEncoder`` file brings its own
            unless given.
        layer: ``None`` (pooled pre-logits) or an earlier map (``"stem"``, ``"blocks.<i>"``, ``i``).
        pool: ``"avg"`` or ``"flatten"`` for ``layer``.
        dtype: ``np.float32`` (default) or ``np.float16`` for the stacked features.
        **encoder_kwargs: :class:`~mnv4_rl.frozen.FrozenFrameEncoder` options.

    Raises:
        TypeError: the observations are not a ``Box`` of frames.
        ValueError: ``n_stack < 1``, stacked frames, an unknown ``layer``, a saved encoder made
            for other frames; each message names the fix.
    """

    def __init__(
        self,
        env: gym.Env,
        encoder: str | os.PathLike | FrozenFrameEncoder = "nano",
        pretrained: bool | str | Path | dict | None = True,
        n_stack: int | None = None,
        layer: str | int | None = None,
        pool: str = "avg",
        dtype: Any = np.float32,
        **encoder_kwargs: Any,
    ) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(
                f"FrozenEncoderObservation needs a Box observation space of image frames, got "
                f"{type(space).__name__}; for Dict observations keep the image key only first "
                "(gymnasium.wrappers.FilterObservation)"
            )
        saved_stack = None
        if isinstance(encoder, FrozenFrameEncoder):
            encoder.check_space(space)
        elif isinstance(encoder, os.PathLike) or (
            isinstance(encoder, str) and Path(encoder).suffix in (".pt", ".pth")
        ):
            state = FrozenFrameEncoder.read(encoder)
            saved_stack = state.get("n_stack")
            encoder = FrozenFrameEncoder.from_state(state, encoder_kwargs.get("device", "cpu"))
            encoder.check_space(space)
        else:
            encoder = FrozenFrameEncoder(
                space, encoder, pretrained, layer=layer, pool=pool, **encoder_kwargs
            )
        self.encoder: FrozenFrameEncoder = encoder
        self.n_stack = check_n_stack(n_stack if n_stack is not None else (saved_stack or 1))
        dim = encoder.features_dim
        self.dtype = check_dtype(dtype)
        shape = (self.n_stack * dim,)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape, self.dtype)
        self._stack = FeatureStack(1, self.n_stack, dim, self.dtype)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """Feature vectors of a batch of raw frames ``(B, *frame_shape) -> (B, features_dim)``."""
        return self.encoder.encode(frames)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        frame, info = self.env.reset(**kwargs)
        return self._stack.reset(self.encode(np.asarray(frame)[None]))[0], info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        frame, reward, terminated, truncated, info = self.env.step(action)
        stacks, _ = self._stack.step(self.encode(np.asarray(frame)[None]), np.zeros(1, bool))
        return stacks[0], reward, terminated, truncated, info
