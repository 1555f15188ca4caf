"""The RLlib export program, registered with :mod:`mnv4_rl.export` on import.

:class:`RLlibPolicy` turns a :class:`~mnv4_rl.rllib.MobileNetV4RLModule` into one module from
observations to actions; checkpoint folders (``Algorithm.save_to_path`` or an RLModule's own) are
opened with ``RLModule.from_checkpoint``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from ray.rllib.core.rl_module.rl_module import RLModule
from torch import nn

from ..export import Adapter, ProgramOptions, example_batch, fuse_backbones, register_adapter
from .module import MobileNetV4RLModule

__all__ = ["RLlibPolicy"]

#: Where ``Algorithm.save_to_path`` puts the module of the default policy.
_MODULE_IN_ALGORITHM = Path("learner_group", "learner", "rl_module", "default_policy")


class RLlibPolicy(nn.Module):
    """An RLlib :class:`~mnv4_rl.rllib.MobileNetV4RLModule` from observations to actions.

    Discrete: the argmax of the logits. ``Box``: the distribution's mean, clipped to the bounds
    (what an RLlib env runner sends to the env in greedy mode). Extra outputs: ``"logits"``
    (discrete), ``"values"``.

    Raises:
        ValueError: an output the module does not have.
    """

    def __init__(self, module: MobileNetV4RLModule, outputs: tuple[str, ...] = ()) -> None:
        super().__init__()
        bad = [o for o in outputs if o not in ("logits", "values")]
        if bad:
            raise ValueError(f"RLlib modules have no output {bad[0]!r}; extras: logits, values")
        self.outputs = tuple(outputs)
        self.output_names = ("actions", *self.outputs)
        self.encoder = fuse_backbones(module.encoder)
        self.critic = fuse_backbones(module.critic_encoder) if module.critic_encoder else None
        self.pi, self.vf = copy.deepcopy(module.pi), copy.deepcopy(module.vf)
        space = module.action_space
        self.continuous = hasattr(space, "low")
        if self.continuous:
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.encoder(obs)
        head = self.pi(features)
        if self.continuous:
            mean = head[:, : head.shape[1] // 2]
            actions = torch.maximum(torch.minimum(mean, self.high), self.low)
        else:
            actions = head.argmax(dim=1)
        extras = {"logits": head}
        if "values" in self.outputs:
            critic_features = features if self.critic is None else self.critic(obs)
            extras["values"] = self.vf(critic_features).squeeze(-1)
        return (actions, *(extras[name] for name in self.outputs))


def _build(module: MobileNetV4RLModule, options: ProgramOptions) -> tuple[nn.Module, torch.Tensor]:
    if options.channel_last:
        raise ValueError("an RLlib module takes its observations as they are; drop channel_last")
    space = module.observation_space
    return RLlibPolicy(module, options.outputs), example_batch(space.shape, space.dtype)


def _opens(path: Path) -> bool:
    return path.is_dir()


def _load(path: Path, algo: Any) -> nn.Module:
    """The RLModule of a checkpoint folder, without starting Ray."""
    for candidate in (path / _MODULE_IN_ALGORITHM, path):
        if (candidate / "module_state.pkl").is_file():
            return RLModule.from_checkpoint(str(candidate))
    raise ValueError(
        f"{path} holds no RLModule: expected an Algorithm.save_to_path folder (with "
        f"{_MODULE_IN_ALGORITHM}/) or an RLModule checkpoint"
    )


register_adapter(Adapter("RLlib", (MobileNetV4RLModule,), _build, opens=_opens, load=_load))
