"""A frozen pretrained MobileNetV4 as an observation transform: frames in, feature vectors out.

Framework-free (torch and numpy only). :class:`FrozenFrameEncoder` encodes a batch of raw frames,
each once, with the network in eval mode and no autograd; :class:`FeatureStack` keeps the last
``n_stack`` feature vectors per env (late fusion), as SB3's ``VecFrameStack`` keeps frames. The
gymnasium wrapper (:class:`mnv4_rl.wrappers.FrozenEncoderObservation`) and the SB3 wrapper
(:class:`mnv4_rl.sb3.VecFrozenEncoder`) are thin shells over these two.

Why BatchNorm is fused once here, while the trainable encoders refold it at every call: nothing
ever changes these weights. They are not handed to any optimiser (``requires_grad`` is off), no
target-network copy or ``load_state_dict`` reaches them (the RL algorithm never sees this
module), so folding at construction gives the same function as BatchNorm in eval mode for the
whole run, minus the per-call folding work.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .frames import FrameLayout, ValueRange, frame_stats, resolve_layout, resolve_value_range
from .models import create_model, load_pretrained, resolve_name
from .models.mobilenetv4 import MobileNetV4
from .registry import resolve_encoder, resolve_weights
from .weights import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "FORMAT",
    "POOLS",
    "FeatureStack",
    "FrozenFrameEncoder",
    "FrozenStackProgram",
    "check_dtype",
    "check_n_stack",
    "frozen_program",
]

#: The ``format`` tag of a saved encoder file (see :meth:`FrozenFrameEncoder.state`).
FORMAT = "mnv4_rl.frozen_encoder/1"
#: How an earlier stage's map becomes a vector: global average pool, or all of it flattened.
POOLS = ("avg", "flatten")


def check_n_stack(n_stack: object) -> int:
    """Return ``n_stack`` if it is an integer >= 1; else raise a ``ValueError`` naming the fix."""
    if not isinstance(n_stack, int) or isinstance(n_stack, bool) or n_stack < 1:
        raise ValueError(
            f"n_stack must be an integer >= 1 (the number of feature vectors stacked per env; "
            f"1 = no stacking), got {n_stack!r}"
        )
    return n_stack


def check_dtype(dtype: Any) -> np.dtype:
    """The features' storage dtype: ``float32`` or ``float16``; anything else is refused."""
    found = np.dtype(dtype)
    if found not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ValueError(
            f"dtype must be float32 or float16 (half the replay memory, values rounded to about "
            f"3 significant digits), got {found}"
        )
    return found


class _Space:
    """The parts of a ``gymnasium.spaces.Box`` this module reads (kept when a file is loaded)."""

    def __init__(self, shape: tuple[int, ...], dtype: Any, low: float, high: float) -> None:
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.low, self.high = np.full(self.shape, low), np.full(self.shape, high)


def _layer_names(model: MobileNetV4) -> list[str]:
    return ["stem", *(f"blocks.{i}" for i in range(len(model.blocks)))]


class _Truncated(nn.Module):
    """Stem and stages up to ``stages`` (exclusive), then the map pooled or flattened."""

    def __init__(self, model: MobileNetV4, stages: int, pool: str) -> None:
        super().__init__()
        self.stem, self.blocks, self.pool = model.stem, model.blocks[:stages], pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return x.mean(dim=(2, 3)) if self.pool == "avg" else x.flatten(1)


class _Pooled(nn.Module):
    """The whole network to its pooled pre-logits vector (``head_hidden_size`` wide)."""

    def __init__(self, model: MobileNetV4) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.blocks(self.model.stem(x)), pre_logits=True)


class FrozenFrameEncoder:
    """A pretrained MobileNetV4, frozen: a batch of raw frames to a batch of feature vectors.

    Each frame is one observation of one env, as the env gives it (``uint8`` ``(H, W, c)`` Atari
    or RGB frames, ``(c, H, W)``, ``(H, W)``...; c = 1 grey or 3 RGB). Values are brought to
    ``[0, 1]`` (:func:`mnv4_rl.frames.resolve_value_range`) and normalised with the checkpoint's
    own mean and std; grey frames use the frame stem rule (the colour kernels summed, weighted by
    the checkpoint's std: :func:`mnv4_rl.weights.adapt_stem_weight`).

    The network runs in eval mode under ``torch.inference_mode`` with every BatchNorm fused into
    its convolution once, at construction (exact: these weights never change afterwards, see the
    module docstring), in channels-last memory format.

    Args:
        observation_space: the space of one frame (a ``gymnasium.spaces.Box``, or anything with
            ``shape``, ``dtype``, ``low`` and ``high``). A stack of frames is refused: the frozen
            encoder encodes each frame once and stacks the feature vectors instead.
        encoder: a :func:`mnv4_rl.create_model` name (``"nano"``, ``"small"``, ``"conv_medium"``...).
        pretrained: ``True`` (the variant's timm ImageNet weights), a hub id, a local
            ``.safetensors``/``.pth`` file or a state dict. ``None`` builds random weights (for
            speed measurements only; a warning says so).
        layer: ``None`` for the pooled pre-logits vector, or an earlier map: ``"stem"``,
            ``"blocks.<i>"`` or the stage index ``i``.
        pool: for ``layer``: ``"avg"`` (global average, one value per channel) or ``"flatten"``
            (the whole map).
        layout: ``"auto"`` or one of :data:`mnv4_rl.frames.LAYOUTS`.
        frame_channels: channels per frame (1 or 3); guessed when ``None``.
        normalized_image: the values are already in ``[0, 1]`` whatever the space's bounds say.
        channels_last: run in channels-last memory format (faster on CPU: see
            ``docs/frozen-encoders.md``).
        device: where the network runs (``"cpu"``, ``"cuda"``); features come back as numpy.

    Raises:
        ValueError: not an image space, a stack of frames, frames smaller than the network's
            stride, an unknown ``layer`` or ``pool``; each message names the fix.
    """

    def __init__(
        self,
        observation_space: Any,
        encoder: str = "nano",
        pretrained: bool | str | Path | dict | None = True,
        layer: str | int | None = None,
        pool: str = "avg",
        layout: str = "auto",
        frame_channels: int | None = None,
        normalized_image: bool = False,
        channels_last: bool = True,
        device: str | torch.device = "cpu",
        *,
        _state: dict | None = None,
    ) -> None:
        for attribute in ("shape", "dtype", "low", "high"):
            if not hasattr(observation_space, attribute):
                raise TypeError(
                    f"a frozen encoder needs a Box space of image frames, got "
                    f"{type(observation_space).__name__}; for Dict observations, wrap the image "
                    "key on its own (e.g. gymnasium.wrappers.FilterObservation) first"
                )
        shape = tuple(int(s) for s in observation_space.shape)
        if len(shape) not in (2, 3, 4):
            raise ValueError(
                f"observation shape {shape} is not an image frame ((H, W), (H, W, c) or "
                "(c, H, W)): a frozen image encoder cannot transform it; use the observations "
                "as they are (an MLP policy)"
            )
        frames = resolve_layout(shape, layout, frame_channels)
        if frames.frames != 1:
            raise ValueError(
                f"observations of shape {shape} hold {frames.frames} stacked frames "
                f"({frames.frame_channels} channel(s) each): the frozen encoder encodes each frame "
                f"once and stacks the feature vectors itself. Put it directly on the env's "
                f"frames, below any frame stack (VecFrameStack, FrameStackObservation), and pass "
                f"n_stack={frames.frames}"
                + (
                    f"; if these are {frames.channels}-channel single frames, pass "
                    f"frame_channels={frames.channels}"
                    if frames.channels in (1, 3)
                    else ""
                )
            )
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; known: {', '.join(map(repr, POOLS))}")
        self.encoder = encoder
        self.variant = resolve_name(encoder)[0]
        self.frames: FrameLayout = frames
        self.space = _Space(
            shape,
            observation_space.dtype,
            float(np.min(observation_space.low)),
            float(np.max(observation_space.high)),
        )
        self.value_range: ValueRange = resolve_value_range(
            observation_space, normalized_image=normalized_image
        )
        self.normalized_image = normalized_image
        self.channels_last = channels_last
        self.device = torch.device(device)
        # The checkpoint's own statistics, per weight tag (lead's edit: the registry decides).
        entry, tag = resolve_encoder(encoder)
        config = resolve_weights(entry, tag, pretrained or (True if entry.weights else None))[1]
        mean, std = frame_stats(
            frames, *((config.mean, config.std) if config else (IMAGENET_MEAN, IMAGENET_STD))
        )

        model = create_model(
            encoder,
            in_channels=frames.channels,
            num_classes=0,
            norm="batch",
            channels_last=channels_last,
        )
        if min(frames.height, frames.width) < model.min_input_size:
            raise ValueError(
                f"frames are {frames.height}x{frames.width}, but MobileNetV4 downsamples by "
                f"{model.min_input_size}: resize them to at least {model.min_input_size} (e.g. "
                "gymnasium.wrappers.ResizeObservation)"
            )
        self.layer, stages = self._resolve_layer(model, layer)
        self.pool = pool
        self.pretrained_summary = None
        if _state is None:
            if pretrained:
                self.pretrained_summary = load_pretrained(
                    model, encoder, pretrained, frames.frame_channels
                )
                # The classifier is dropped by design: not news; anything else is reported.
                news = [c for c in self.pretrained_summary.changes if "no classifier" not in c]
                if news:
                    lines = "\n".join(f"  - {c}" for c in news)
                    warnings.warn(
                        f"frozen encoder {encoder!r}: {self.pretrained_summary.source}\n{lines}",
                        UserWarning,
                        stacklevel=2,
                    )
            else:
                warnings.warn(
                    "frozen encoder with random weights (pretrained=None): its features carry no "
                    "pretrained knowledge; pass pretrained=True or a checkpoint file",
                    UserWarning,
                    stacklevel=2,
                )
        model.fuse_for_inference()  # eval mode; every BatchNorm folded once, for good
        net: nn.Module = _Pooled(model) if stages is None else _Truncated(model, stages, pool)
        if _state is not None:
            net.load_state_dict(_state)
        net.requires_grad_(False)
        self.net = net.eval().to(self.device)
        # Value range and mean/std as one multiply-add per channel: x * scale + shift.
        divisor, offset = self.value_range.divisor, self.value_range.offset
        std_t, mean_t = torch.tensor(std), torch.tensor(mean)
        self._scale = (1.0 / (divisor * std_t)).view(1, -1, 1, 1).to(self.device)
        self._shift = ((offset - mean_t) / std_t).view(1, -1, 1, 1).to(self.device)
        self.mean, self.std = mean, std
        self.features_dim = int(self.encode(np.zeros((1, *shape), self.space.dtype)).shape[1])

    @staticmethod
    def _resolve_layer(
        model: MobileNetV4, layer: str | int | None
    ) -> tuple[str | None, int | None]:
        """``(name, number of stages to run)``; ``(None, None)`` for the pooled vector."""
        if layer is None:
            return None, None
        names = _layer_names(model)
        name = (
            f"blocks.{layer}" if isinstance(layer, int) and not isinstance(layer, bool) else layer
        )
        if name not in names:
            raise ValueError(
                f"layer {layer!r} does not exist in {model.spec.name}; its layers are "
                f"{', '.join(map(repr, names))} (or the stage index 0-{len(model.blocks) - 1}); "
                "layer=None gives the pooled pre-logits vector"
            )
        return name, names.index(name)  # "stem" runs 0 stages, "blocks.i" runs i + 1

    def _input(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(frames)
        if tuple(x.shape[1:]) != self.space.shape:
            raise ValueError(
                f"expected a batch of frames of shape (batch, {', '.join(map(str, self.space.shape))})"
                f", got {tuple(x.shape)}; add a batch axis for one frame (frames[None])"
            )
        x = x.to(self.device, torch.float32, non_blocking=True)
        layout = self.frames.layout
        if layout == "hwc":
            x = x.permute(0, 3, 1, 2)  # an (N, H, W, c) buffer is (N, c, H, W) channels-last
        elif layout == "hw":
            x = x.unsqueeze(1)
        elif layout == "khwc":
            x = x[:, 0].permute(0, 3, 1, 2)
        elif layout == "kchw":
            x = x[:, 0]
        memory = torch.channels_last if self.channels_last else torch.contiguous_format
        return torch.addcmul(self._shift, x, self._scale).contiguous(memory_format=memory)

    def encode(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """Feature vectors of a batch of raw frames: ``(B, *frame_shape) -> (B, features_dim)``.

        Args:
            frames: frames as the env gives them, batch axis first.

        Returns:
            A float32 numpy array.

        Raises:
            ValueError: the frames do not have the encoder's frame shape.
        """
        with torch.inference_mode():
            return self.net(self._input(frames)).float().cpu().numpy()

    def forward_tensor(self, frames: torch.Tensor) -> torch.Tensor:
        """As :meth:`encode`, but tensors in and out, with autograd left as it is (for export)."""
        return self.net(self._input(frames))

    # ---------------------------------------------------------------------------- save / load
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this encoder without its checkpoint: options + weights."""
        return {
            "format": FORMAT,
            "encoder": self.encoder,
            "layer": self.layer,
            "pool": self.pool,
            "layout": self.frames.layout,
            "frame_channels": self.frames.frame_channels,
            "shape": list(self.space.shape),
            "dtype": self.space.dtype.str,
            "low": float(self.space.low.min()),
            "high": float(self.space.high.max()),
            "normalized_image": self.normalized_image,
            "channels_last": self.channels_last,
            "features_dim": self.features_dim,
            "weights": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], device: str | torch.device = "cpu"
    ) -> FrozenFrameEncoder:
        """Rebuild an encoder from :meth:`state` (the weights come from the state, no file read)."""
        if state.get("format") != FORMAT:
            raise ValueError(
                f"not a frozen-encoder state (format {state.get('format')!r}, expected "
                f"{FORMAT!r}); save one with FrozenFrameEncoder.save / VecFrozenEncoder.save"
            )
        space = _Space(tuple(state["shape"]), state["dtype"], state["low"], state["high"])
        return cls(
            space,
            state["encoder"],
            pretrained=None,
            layer=state["layer"],
            pool=state["pool"],
            layout=state["layout"],
            frame_channels=state["frame_channels"],
            normalized_image=state["normalized_image"],
            channels_last=state["channels_last"],
            device=device,
            _state=state["weights"],
        )

    def save(self, path: str | os.PathLike | io.BytesIO, **extra: Any) -> None:
        """Write :meth:`state` (plus ``extra`` plain values) to ``path`` with ``torch.save``."""
        torch.save({**self.state(), **extra}, path)

    @staticmethod
    def read(path: str | os.PathLike | io.BytesIO) -> dict[str, Any]:
        """Read a file written by :meth:`save` (tensors and plain values only: ``weights_only``)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as error:  # torch raises several types for foreign or truncated files
            raise ValueError(
                f"cannot read {path} as a saved frozen encoder ({type(error).__name__}); save one "
                "with VecFrozenEncoder.save or FrozenFrameEncoder.save"
            ) from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(
                f"{path} is not a saved frozen encoder; save one with VecFrozenEncoder.save or "
                "FrozenFrameEncoder.save"
            )
        return state

    @classmethod
    def load(
        cls, path: str | os.PathLike | io.BytesIO, device: str | torch.device = "cpu"
    ) -> FrozenFrameEncoder:
        """An encoder from a file written by :meth:`save`; the original checkpoint is not needed."""
        return cls.from_state(cls.read(path), device)

    def check_space(self, observation_space: Any, where: str = "the env") -> None:
        """Raise a ``ValueError`` naming the fix unless ``observation_space`` holds this encoder's
        frames (same shape and dtype)."""
        shape = tuple(getattr(observation_space, "shape", None) or ())
        dtype = np.dtype(getattr(observation_space, "dtype", None) or np.float64)
        if shape != self.space.shape or dtype != self.space.dtype:
            raise ValueError(
                f"the saved frozen encoder takes {self.space.dtype} frames of shape "
                f"{self.space.shape}, but {where} gives {dtype} observations of shape {shape}; "
                "wrap an env with the same frames (same size, grey/RGB, no frame stack), or "
                "build a new encoder for these frames"
            )

    def __repr__(self) -> str:
        f = self.frames
        what = "pooled pre-logits" if self.layer is None else f"{self.layer} ({self.pool})"
        return (
            f"FrozenFrameEncoder({self.encoder!r}, {f.frame_channels}ch {f.height}x{f.width} "
            f"{f.layout}, {what}, features_dim={self.features_dim})"
        )


class FeatureStack:
    """The last ``n_stack`` feature vectors of each of ``n_envs`` envs, oldest first, flattened.

    Zeros stand for the vectors before an episode's first, as SB3's ``VecFrameStack`` pads with
    zero frames. Each call returns a new array (never a view that a later call overwrites).

    Args:
        n_envs: number of envs.
        n_stack: vectors kept per env (>= 1).
        dim: width of one vector.
        dtype: ``float32``, or ``float16`` to halve what a replay buffer stores per transition
            (:func:`check_dtype`).
    """

    def __init__(self, n_envs: int, n_stack: int, dim: int, dtype: Any = np.float32) -> None:
        self.n_envs, self.n_stack, self.dim = n_envs, check_n_stack(n_stack), dim
        self.stack = np.zeros((n_envs, n_stack * dim), check_dtype(dtype))

    def reset(self, features: np.ndarray) -> np.ndarray:
        """Start every env afresh with ``features`` ``(n_envs, dim)``; returns the stacks."""
        stack = np.zeros_like(self.stack)
        stack[:, -self.dim :] = features
        self.stack = stack
        return stack.copy()

    def step(
        self,
        features: np.ndarray,
        dones: np.ndarray,
        terminal: dict[int, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Push one vector per env; envs that are ``done`` start afresh with theirs.

        Args:
            features: ``(n_envs, dim)``, the new observations' vectors (after a reset for the
                envs that are done).
            dones: ``(n_envs,)`` bools.
            terminal: env index -> the vector of the episode's last observation (for the envs
                that are done and report one).

        Returns:
            The new stacks ``(n_envs, n_stack * dim)`` and, per entry of ``terminal``, the stack
            that ends the episode (the old vectors then the terminal one).
        """
        d = self.dim
        stack = np.empty_like(self.stack)
        stack[:, :-d] = self.stack[:, d:]  # one copy: shift left by one vector
        ended = {}
        for index, vector in (terminal or {}).items():
            ended[index] = np.concatenate([stack[index, :-d], vector.astype(stack.dtype)])
        done = np.asarray(dones, bool)
        if done.any():
            stack[done, :-d] = 0.0
        stack[:, -d:] = features
        self.stack = stack
        return stack.copy(), ended


class FrozenStackProgram(nn.Module):
    """An export program from the last ``n_stack`` raw frames to a policy's outputs.

    ``(B, n_stack, *frame) -> head(features)``: each frame goes through a copy of the frozen
    encoder (its preprocessing and fused network, one batched forward), the vectors are
    stacked oldest first as :class:`FeatureStack` stacks them, and ``head`` (the trained
    policy's program on features) gives the actions. Grey frames with a channel axis of 1 are
    taken without it, ``(B, n_stack, H, W)``: the stack gymnasium's ``FrameStackObservation``
    makes of ``AtariPreprocessing``'s frames.

    Episode starts: :class:`FeatureStack` pads with zero *vectors*, a frame stack with zero
    *frames*; the program maps a frame whose pixels are all 0 to the zero vector, so a
    zero-padded frame stack acts as the wrapper does (a truly all-black frame is read as padding
    too).

    Args:
        encoder: the frozen encoder the policy was trained behind.
        n_stack: vectors per observation.
        head: a module from ``(B, n_stack * features_dim)`` features to a tuple of outputs, with
            ``output_names``.
        dtype: the features' dtype in the wrapper (float16 stacks are rounded as there).
    """

    def __init__(
        self, encoder: FrozenFrameEncoder, n_stack: int, head: nn.Module, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.n_stack = check_n_stack(n_stack)
        self.net = copy.deepcopy(encoder.net).cpu().eval()
        self.register_buffer("scale", encoder._scale.detach().cpu().clone())
        self.register_buffer("shift", encoder._shift.detach().cpu().clone())
        self.layout = encoder.frames.layout
        self.frame_shape = encoder.space.shape
        self.squeezed = self.layout in ("hwc", "chw") and encoder.frames.channels == 1
        self.channels_last = encoder.channels_last
        self.half = check_dtype(dtype) == np.float16
        self.head = head
        self.output_names = tuple(getattr(head, "output_names", ("actions",)))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input (no batch axis)."""
        frame = self.frame_shape
        if self.squeezed:
            frame = frame[:2] if self.layout == "hwc" else frame[1:]
        return (self.n_stack, *frame)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch, k = frames.shape[0], frames.shape[1]
        flat = frames.reshape(batch * k, *frames.shape[2:])
        padding = (flat.reshape(batch * k, -1) == 0).all(dim=1)
        x = flat.float()
        if self.squeezed or self.layout == "hw":
            x = x.unsqueeze(1)
        elif self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        x = torch.addcmul(self.shift, x, self.scale)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        vectors = self.net(x)
        vectors = torch.where(padding[:, None], torch.zeros_like(vectors), vectors)
        features = vectors.reshape(batch, -1)
        if self.half:
            features = features.half().float()
        return self.head(features)


def frozen_program(
    frozen_encoder: Any, head: nn.Module, head_example: torch.Tensor
) -> tuple[FrozenStackProgram, torch.Tensor]:
    """Put a frozen encoder in front of a policy program (``export_policy(frozen_encoder=...)``).

    Args:
        frozen_encoder: a ``VecFrozenEncoder`` or ``FrozenEncoderObservation`` (anything with
            ``encoder`` and ``n_stack``), or the path of a file their ``save`` wrote.
        head: the policy's export program on features.
        head_example: its example batch ``(B, n_stack * features_dim)``.

    Returns:
        The program from raw frames and an example batch of frames (zeros, batch 2).

    Raises:
        ValueError: the policy's observations are not this encoder's stacked features.
    """
    dtype: Any = np.float32
    if isinstance(frozen_encoder, str | os.PathLike):
        state = FrozenFrameEncoder.read(frozen_encoder)
        encoder, n_stack = FrozenFrameEncoder.from_state(state), int(state.get("n_stack", 1))
        dtype = np.dtype(state.get("stack_dtype", "<f4"))
    elif hasattr(frozen_encoder, "encoder") and hasattr(frozen_encoder, "n_stack"):
        encoder, n_stack = frozen_encoder.encoder, frozen_encoder.n_stack
        dtype = getattr(frozen_encoder, "dtype", np.float32)
    else:
        raise TypeError(
            f"frozen_encoder must be a VecFrozenEncoder, a FrozenEncoderObservation or the path "
            f"of a file their save() wrote, got {type(frozen_encoder).__name__}"
        )
    width = n_stack * encoder.features_dim
    if tuple(head_example.shape[1:]) != (width,):
        raise ValueError(
            f"the policy takes observations of shape {tuple(head_example.shape[1:])}, but this "
            f"frozen encoder gives {n_stack} x {encoder.features_dim} = {width} features: export "
            "with the frozen encoder (or saved file) the policy was trained behind"
        )
    program = FrozenStackProgram(encoder, n_stack, head, dtype).eval()
    example = torch.zeros((2, *program.input_shape), dtype=_torch_dtype(encoder.space.dtype))
    return program, example


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(1, dtype=dtype)).dtype
