"""What gets exported, and who builds it.

An export program is one ``nn.Module`` from raw observations to actions, with every preprocessing
step inside and BatchNorm fused into the convolutions. Each framework's adapter builds its own
and registers it here as an :class:`Adapter`: the source types it exports (checked with
``isinstance``), how it builds the program, and how it opens a saved model from a path:

- :mod:`mnv4_rl.sb3.export`: SB3 algorithms, and SB3 ``.zip`` files;
- :mod:`mnv4_rl.rllib.export`: :class:`mnv4_rl.rllib.MobileNetV4RLModule`, and RLlib checkpoint
  folders;
- this module: :class:`Classifier`, a :func:`mnv4_rl.create_model` network.

This module imports no framework: the adapters that ship with the package are imported only when
a source needs them (:data:`BUILTIN_ADAPTERS`).
"""

from __future__ import annotations

import copy
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..augment import strip_augmentations
from ..models.mobilenetv4 import MobileNetV4

__all__ = [
    "BUILTIN_ADAPTERS",
    "Adapter",
    "Classifier",
    "ProgramOptions",
    "adapter_for_path",
    "adapter_for_source",
    "example_batch",
    "fuse_backbones",
    "register_adapter",
]


@dataclass(frozen=True)
class ProgramOptions:
    """How to build an export program (the options of :func:`mnv4_rl.export.export_policy`).

    Attributes:
        outputs: extra outputs after ``actions`` (``"logits"``, ``"q_values"``, ``"values"``).
        channel_last: take the env's channel-last frames where the framework transposed them.
        image_size: a classifier's input side.
    """

    outputs: tuple[str, ...] = ()
    channel_last: bool = False
    image_size: int = 224


#: ``build(source, options) -> (program, example batch)``; the program has ``output_names``.
Builder = Callable[[Any, ProgramOptions], tuple[nn.Module, torch.Tensor]]


@dataclass(frozen=True)
class Adapter:
    """One framework's export program, registered with :func:`register_adapter`.

    Attributes:
        name: shown in messages (``"SB3"``).
        types: the source classes it exports; a source is matched with ``isinstance``.
        build: the program and an example batch for a source of one of ``types``.
        opens: whether a path holds this framework's saved model (None: it opens no paths).
        load: ``load(path, algo)``: the source saved at a path that ``opens`` accepted.
    """

    name: str
    types: tuple[type, ...]
    build: Builder
    opens: Callable[[Path], bool] | None = None
    load: Callable[[Path, Any], Any] | None = None


_ADAPTERS: dict[str, Adapter] = {}

#: The adapters that ship with the package: the module that registers each when imported, and
#: the package without which none of its sources can exist. They are imported on demand, so that
#: exporting never imports a framework the source does not come from.
BUILTIN_ADAPTERS: tuple[tuple[str, str], ...] = (
    ("mnv4_rl.sb3.export", "stable_baselines3"),
    ("mnv4_rl.rllib.export", "ray"),
)


def register_adapter(adapter: Adapter) -> None:
    """Add (or replace, by name) an adapter; later exports consider it.

    Args:
        adapter: the adapter to register.
    """
    _ADAPTERS[adapter.name] = adapter


def _import_builtin(module: str) -> str | None:
    """Import a built-in adapter; the reason it is unavailable (its extra is missing), or None."""
    try:
        importlib.import_module(module)
    except ImportError as error:
        return str(error)
    return None


def adapter_for_source(source: Any) -> Adapter:
    """The registered adapter whose types ``source`` is an instance of.

    Args:
        source: a trained policy object or a network.

    Returns:
        The adapter that exports it.

    Raises:
        TypeError: no adapter exports this type.
    """
    for _ in range(2):
        for adapter in _ADAPTERS.values():
            if isinstance(source, adapter.types):
                return adapter
        # A source of a framework exists only once that framework is imported.
        for module, framework in BUILTIN_ADAPTERS:
            if framework in sys.modules:
                _import_builtin(module)
    raise TypeError(
        f"cannot export a {type(source).__name__}: pass an SB3 algorithm, an SB3 zip (with "
        "algo=), an RLlib checkpoint folder or MobileNetV4RLModule, or a create_model network"
    )


def adapter_for_path(path: Path) -> Adapter:
    """The adapter that opens the saved model at ``path`` (built-in adapters imported in turn,
    stopping at the first that opens it).

    Args:
        path: an existing file or folder.

    Returns:
        The adapter whose ``opens`` accepts the path.

    Raises:
        ValueError: no adapter opens it (the message names the extras that are missing).
    """
    missing = []
    for module, _ in (*BUILTIN_ADAPTERS, ("", "")):
        for adapter in _ADAPTERS.values():
            if adapter.opens is not None and adapter.opens(path):
                return adapter
        if module and (reason := _import_builtin(module)):
            missing.append(reason)
    raise ValueError(
        f"no adapter opens {path}: expected an SB3 .zip or an RLlib checkpoint folder"
        + (f" ({'; '.join(missing)})" if missing else "")
    )


def example_batch(shape: tuple[int, ...], dtype: Any) -> torch.Tensor:
    """Two zero observations of ``shape`` and a numpy ``dtype``, as torch tensors."""
    return torch.zeros((2, *shape), dtype=torch.from_numpy(np.zeros(1, dtype=dtype)).dtype)


def fuse_backbones(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode, without training-time augmentation, with every MobileNetV4's
    BatchNorm fused into its convolutions."""
    module = copy.deepcopy(module).eval()
    # Exported programs never augment, whatever mode they are later put in.
    strip_augmentations(module)
    for child in module.modules():
        if isinstance(child, MobileNetV4):
            child.fuse_for_inference()
    return module


class Classifier(nn.Module):
    """A :func:`mnv4_rl.create_model` network, fused: float ``(B, C, H, W)`` -> ``(logits,)``."""

    output_names = ("logits",)

    def __init__(self, model: MobileNetV4) -> None:
        super().__init__()
        self.model = fuse_backbones(model)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.model(images),)


def _classifier_program(
    model: MobileNetV4, options: ProgramOptions
) -> tuple[nn.Module, torch.Tensor]:
    if options.outputs or options.channel_last:
        raise ValueError("a classifier exports its logits only; drop outputs / channel_last")
    size = options.image_size
    return Classifier(model).eval(), torch.zeros(2, model.in_channels, size, size)


register_adapter(Adapter("classifier", (MobileNetV4,), _classifier_program))
