"""Export a trained policy (SB3, RLlib) or a classifier to ONNX, TorchScript, ``torch.export`` or
ExecuTorch, with all preprocessing inside and the same actions.

    from mnv4_rl.export import export_policy
    export_policy(model, "policy.onnx")                    # an SB3 algorithm
    export_policy("ppo_pong.zip", "policy.pt", algo="ppo")  # a saved SB3 model
    export_policy("runs/rllib/.../checkpoints/final", "policy.pt2")  # an RLlib checkpoint

or ``mnv4-rl-export MODEL.zip --algo ppo --out policy.onnx``. See :func:`export_policy`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.mobilenetv4 import MobileNetV4
from .formats import FORMATS, check_file, write
from .programs import Classifier, RLlibPolicy, SB3Policy, fuse_backbones

__all__ = ["FORMATS", "export_policy", "fuse_backbones", "load_source", "policy_program"]

SB3_ALGOS = ("ppo", "a2c", "dqn", "qrdqn", "sac")


def _sb3_class(algo: Any) -> type:
    if isinstance(algo, type):
        return algo
    name = str(algo).lower().replace("-", "").replace("_", "")
    if name == "qrdqn":
        from sb3_contrib import QRDQN

        return QRDQN
    import stable_baselines3

    classes = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN", "sac": "SAC"}
    if name not in classes:
        raise ValueError(f"unknown algorithm {algo!r}; known: {', '.join(SB3_ALGOS)}")
    return getattr(stable_baselines3, classes[name])


def _rllib_module(path: Path, module_id: str = "default_policy") -> nn.Module:
    """The RLModule of an RLlib checkpoint folder (``Algorithm.save_to_path``), without Ray."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    for candidate in (path / "learner_group" / "learner" / "rl_module" / module_id, path):
        if (candidate / "module_state.pkl").is_file():
            return RLModule.from_checkpoint(str(candidate))
    raise ValueError(
        f"{path} holds no RLModule: expected an Algorithm.save_to_path folder (with "
        f"learner_group/learner/rl_module/{module_id}/) or an RLModule checkpoint"
    )


def load_source(source: Any, algo: Any = None) -> Any:
    """What :func:`export_policy` exports: an SB3 algorithm, an RLlib module or a MobileNetV4.

    ``source`` may be one of those objects, a path to an SB3 ``.zip`` (with ``algo``: a class or
    one of :data:`SB3_ALGOS`) or an RLlib checkpoint folder.

    Raises:
        ValueError: an unknown algorithm, a file that is not an SB3 zip, a missing ``algo``.
    """
    if not isinstance(source, str | Path):
        return source
    path = Path(source)
    if path.is_dir():
        return _rllib_module(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}")
    if not zipfile.is_zipfile(path) or "data" not in zipfile.ZipFile(path).namelist():
        raise ValueError(
            f"{path} is not an SB3 model zip (model.save writes one with a 'data' entry)"
        )
    if algo is None:
        raise ValueError(f"{path} is an SB3 zip: pass algo= (one of {', '.join(SB3_ALGOS)})")
    from ..sb3 import load_model

    return load_model(_sb3_class(algo), path, device="cpu")


def policy_program(
    source: Any, outputs: tuple[str, ...] = (), channel_last: bool = False, image_size: int = 224
) -> tuple[nn.Module, torch.Tensor]:
    """The module to export and an example input batch (2 observations, zeros); a classifier
    takes ``image_size`` x ``image_size`` images."""
    if isinstance(source, MobileNetV4):
        if outputs or channel_last:
            raise ValueError("a classifier exports its logits only; drop outputs / channel_last")
        example = torch.zeros(2, source.in_channels, image_size, image_size)
        return Classifier(source).eval(), example
    if hasattr(source, "policy") and hasattr(source, "predict"):  # an SB3 algorithm
        from gymnasium import spaces

        space = source.policy.observation_space
        if isinstance(space, spaces.Dict) or not isinstance(space, spaces.Box):
            raise ValueError(
                f"cannot export a policy with a {type(space).__name__} observation space: the "
                "exported program takes one array; export the image encoder on its own, or use "
                "a Box observation"
            )
        if not isinstance(source.action_space, spaces.Discrete | spaces.Box):
            raise ValueError(f"cannot export {type(source.action_space).__name__} actions")
        shape = space.shape
        if channel_last:
            if len(shape) != 3:
                raise ValueError("channel_last=True needs 3-D (C, H, W) observations")
            shape = (shape[1], shape[2], shape[0])
        example = torch.zeros((2, *shape), dtype=_torch_dtype(space.dtype))
        return SB3Policy(source, outputs, channel_last).eval(), example
    if hasattr(source, "encoder") and hasattr(source, "pi"):  # MobileNetV4RLModule
        space = source.observation_space
        example = torch.zeros((2, *space.shape), dtype=_torch_dtype(space.dtype))
        return RLlibPolicy(source, outputs).eval(), example
    raise TypeError(
        f"cannot export a {type(source).__name__}: pass an SB3 algorithm, an SB3 zip (with "
        "algo=), an RLlib checkpoint folder or MobileNetV4RLModule, or a create_model network"
    )


def _torch_dtype(dtype: Any) -> torch.dtype:
    return torch.from_numpy(__import__("numpy").zeros(1, dtype=dtype)).dtype


def export_policy(
    source: Any,
    path: str | Path,
    *,
    algo: Any = None,
    outputs: tuple[str, ...] | list[str] = (),
    channel_last: bool = False,
    image_size: int = 224,
    check: bool = True,
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

    Returns:
        The written path.
    """
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(
            f"unknown export format {path.suffix!r} ({path}); the suffix picks it: "
            f"{', '.join(FORMATS)}"
        )
    outputs = tuple(outputs)
    program, example = policy_program(load_source(source, algo), outputs, channel_last, image_size)
    names = ["logits"] if isinstance(program, Classifier) else ["actions", *outputs]
    write(program, example, path, names)
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
