"""Export a trained policy (SB3, RLlib) or a classifier to ONNX, TorchScript, ``torch.export`` or
ExecuTorch, with all preprocessing inside and the same actions.

    from mnv4_rl.export import export_policy
    export_policy(model, "policy.onnx")                    # an SB3 algorithm
    export_policy("ppo_pong.zip", "policy.pt", algo="ppo")  # a saved SB3 model
    export_policy("runs/rllib/.../checkpoints/final", "policy.pt2")  # an RLlib checkpoint

or ``mnv4-rl-export MODEL.zip --algo ppo --out policy.onnx``. See :func:`export_policy`.

This package knows no framework: each adapter (:mod:`mnv4_rl.sb3.export`,
:mod:`mnv4_rl.rllib.export`) registers its program here (:func:`register_adapter`), and the file
formats are one table (:data:`FORMATS`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .formats import FORMATS, Format, check_file, format_for, read_metadata, write
from .programs import (
    Adapter,
    ProgramOptions,
    adapter_for_path,
    adapter_for_source,
    example_batch,
    fuse_backbones,
    register_adapter,
)

__all__ = [
    "FORMATS",
    "OPTIONS_KEY",
    "Adapter",
    "Format",
    "ProgramOptions",
    "example_batch",
    "export_policy",
    "fuse_backbones",
    "load_source",
    "policy_program",
    "read_metadata",
    "register_adapter",
]


def load_source(source: Any, algo: Any = None) -> Any:
    """What :func:`export_policy` exports: ``source`` itself, or the model saved at a path.

    Args:
        source: a policy object or network (returned as is), or a path to a saved model: an SB3
            ``.zip`` (with ``algo``) or an RLlib checkpoint folder.
        algo: for an SB3 ``.zip``: the algorithm class or name (``"ppo"``...).

    Returns:
        The object to export.

    Raises:
        FileNotFoundError: nothing at the path.
        ValueError: no adapter opens the path, or the adapter refuses it (an unknown algorithm, a
            zip that is not an SB3 model, a missing ``algo``).
    """
    if not isinstance(source, str | Path):
        return source
    # Absolute: RLlib reads checkpoints through pyarrow, which takes a relative path for a URI
    # without a scheme.
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"no model at {source}")
    return adapter_for_path(path).load(path, algo)


def policy_program(
    source: Any, outputs: tuple[str, ...] = (), channel_last: bool = False, image_size: int = 224
) -> tuple[nn.Module, torch.Tensor]:
    """The module to export and an example input batch (2 observations, zeros).

    Args:
        source: a policy object or network that a registered adapter exports.
        outputs: extra outputs after the actions.
        channel_last: take the env's channel-last frames.
        image_size: a classifier's input side.

    Returns:
        The program (eval mode; its ``output_names`` name its outputs) and an example batch.

    Raises:
        TypeError: no adapter exports this type.
        ValueError: the adapter cannot export this source with these options.
    """
    options = ProgramOptions(tuple(outputs), channel_last, image_size)
    program, example = adapter_for_source(source).build(source, options)
    return program.eval(), example


def export_policy(
    source: Any,
    path: str | Path,
    *,
    algo: Any = None,
    outputs: tuple[str, ...] | list[str] = (),
    channel_last: bool = False,
    image_size: int = 224,
    check: bool = True,
    frozen_encoder: Any = None,
) -> Path:
    """Export a trained policy (or classifier) to ``path``; the suffix picks the format.

    ``.onnx`` (ONNX, opset 17), ``.pt`` (TorchScript, traced and frozen: loads with
    ``torch.jit.load`` without this package), ``.pt2`` (``torch.export``) or ``.pte``
    (ExecuTorch with XNNPACK, where executorch is installed).

    The program takes a batch of observations as the policy's observation space holds them
    (dtype and layout, batch axis first and dynamic) and returns ``actions`` first (argmax for
    discrete actions; the clipped or rescaled mean for ``Box``), then ``outputs``. All
    preprocessing (/255, layout, pretrained mean/std) is inside; BatchNorm is fused into the
    convolutions.

    Args:
        source: an SB3 algorithm (PPO, A2C, DQN, QR-DQN, SAC), a path to an SB3 ``.zip``, an
            RLlib checkpoint folder or ``MobileNetV4RLModule``, or a ``create_model`` network.
        path: the file to write.
        algo: for an SB3 zip: the algorithm class or name (``"ppo"``...).
        outputs: extra outputs: ``"logits"``, ``"q_values"``, ``"values"``.
        channel_last: take the env's channel-last frames where SB3 transposed them.
        image_size: a classifier's input side (its exported program takes that size only).
        check: run the written file on sample observations and compare with the policy
            (needs onnxruntime for ``.onnx``).
        frozen_encoder: for a policy trained on frozen-encoder features: the
            ``VecFrozenEncoder`` / ``FrozenEncoderObservation`` (or its saved file); the program
            then takes the last ``n_stack`` raw frames, ``(B, n_stack, *frame)``
            (:func:`mnv4_rl.frozen.frozen_program`).

    Returns:
        The written path.

    Raises:
        ValueError: an unknown suffix, a source that cannot be exported with these options.
        TypeError: a source no adapter exports.
        FileNotFoundError: a path to a model that does not exist.
        ImportError: the format's or the framework's package is missing (names the extra).
        RuntimeError: the written file does not act as the policy (``check``).
    """
    path = Path(path)
    format_for(path)  # an unknown suffix fails before any model is loaded
    program, example = policy_program(
        load_source(source, algo), tuple(outputs), channel_last, image_size
    )
    if frozen_encoder is not None:  # raw frames -> frozen encoder -> the policy on features
        from ..frozen import frozen_program

        program, example = frozen_program(frozen_encoder, program, example)
    write(program, example, path, list(program.output_names), _encoder_metadata(program))
    if check:
        check_file(path, program, _sample_like(example))
    return path


def _sample_like(example: torch.Tensor) -> torch.Tensor:
    """Random observations of the example's shape and dtype, batch 3 (not the traced batch)."""
    generator = torch.Generator().manual_seed(0)
    shape = (3, *example.shape[1:])
    if example.dtype == torch.uint8:
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    return torch.rand(shape, generator=generator, dtype=example.dtype)


#: The metadata key under which exported files keep their encoders' options.
OPTIONS_KEY = "mnv4_rl.encoder_options"


def _encoder_metadata(program: nn.Module) -> dict[str, str]:
    """The options of every encoder inside ``program`` (:meth:`EncoderOptions.record`), as JSON
    under :data:`OPTIONS_KEY`; nothing for programs without one (NatureCNN, a classifier)."""
    from ..encoders import OptionsRecord

    records = [
        m.encoder_options.record() for m in program.modules() if isinstance(m, OptionsRecord)
    ]
    return {OPTIONS_KEY: json.dumps(records)} if records else {}
