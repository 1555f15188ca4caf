"""A learning-rate scale for a pretrained encoder that survives every learning-rate update.

Fine-tuning pretrained weights at a fraction of the heads' learning rate keeps more of what
they learnt. A plain optimiser parameter group with its own ``lr`` does not hold that fraction
in RL libraries: SB3's ``update_learning_rate`` and RLlib's learning-rate scheduler set *every*
group's ``lr`` to the same value before each update, so after the first update the encoder
trains at the full rate, silently.

Here the scale is a property of the group (``group["lr_scale"]``), not of its ``lr``: the
optimiser multiplies each group's ``lr`` by its scale inside ``step`` and restores it after.
Whatever a library writes into ``lr`` (a constant, a schedule), the encoder steps at
``lr_scale * lr`` and the heads at ``lr``.

- :func:`mark_lr_scale` tags parameters with their scale (``param.lr_scale``);
- :func:`lr_scaled` turns any ``torch.optim`` class into one that groups parameters by their
  tags and applies the scales at step time (:class:`LRScaledAdam` and friends ready-made);
- :func:`apply_encoder_lr_scale` does both to a built SB3 algorithm (PPO, A2C, DQN, QR-DQN,
  SAC), keeping the optimiser's state.

Framework-free: torch only (SB3 objects are only read through their attributes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

__all__ = [
    "LRScaledAdam",
    "LRScaledAdamW",
    "LRScaledRMSprop",
    "LRScaledSGD",
    "apply_encoder_lr_scale",
    "check_lr_scale",
    "effective_lrs",
    "encoder_parameters",
    "group_by_lr_scale",
    "lr_scaled",
    "mark_lr_scale",
]


def check_lr_scale(scale: object) -> float:
    """Return ``scale`` as a float if it is a number > 0; else raise a ``ValueError``."""
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError(
            f"encoder_lr_scale must be a number > 0 (e.g. 0.1: the encoder learns at a tenth of "
            f"the heads' rate; 1.0: no scaling), got {scale!r}; to freeze the encoder use "
            "mnv4_rl.sb3.VecFrozenEncoder instead"
        )
    return float(scale)


def mark_lr_scale(params: nn.Module | Iterable[torch.Tensor], scale: float) -> int:
    """Tag parameters (a module's, or the given ones) to learn at ``scale`` x the learning rate.

    The tag is an attribute of each parameter (``param.lr_scale``), read when an
    :func:`lr_scaled` optimiser is built. Returns the number of parameters tagged.
    """
    scale = check_lr_scale(scale)
    tensors = list(params.parameters() if isinstance(params, nn.Module) else params)
    for param in tensors:
        param.lr_scale = scale
    return len(tensors)


def group_by_lr_scale(params: Iterable[Any]) -> list[dict[str, Any]]:
    """Parameter groups with an ``lr_scale`` key each, by the parameters' tags (1.0 untagged).

    Groups that are already dicts keep their options; their parameters are split by tag too.
    Order is kept within each group.
    """
    params = list(params)
    if not params:
        return []
    groups = params if isinstance(params[0], dict) else [{"params": params}]
    result, position = [], 0
    for group in groups:
        tensors = group["params"]
        tensors = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        by_scale: dict[float, tuple[list[torch.Tensor], list[int]]] = {}
        for param in tensors:
            members, where = by_scale.setdefault(float(getattr(param, "lr_scale", 1.0)), ([], []))
            members.append(param)
            where.append(position)  # the place in the list the optimiser was given
            position += 1
        for scale, (members, where) in by_scale.items():
            options = {k: v for k, v in group.items() if k not in ("params", "flat_index")}
            options.setdefault("lr_scale", scale)
            result.append({**options, "params": members, "flat_index": where})
    return result


class _LRScaledMixin:
    """``step`` runs each group at ``group["lr"] * group["lr_scale"]``; ``lr`` is restored after,
    so whatever a library writes into ``lr`` stays the heads' rate."""

    def __init__(self, params: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(group_by_lr_scale(params), *args, **kwargs)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a saved state; groups split by scale in the saved optimiser are split here the
        same way first (by each group's ``flat_index``), and their parameters tagged again.

        This is how a saved SB3 model keeps its encoder's scale: SB3 rebuilds the optimiser
        from a flat parameter list before loading this state."""
        saved = state_dict.get("param_groups", [])
        mine = self.param_groups
        if (
            saved
            and all("flat_index" in g for g in saved + mine)
            and [len(g["params"]) for g in saved] != [len(g["params"]) for g in mine]
        ):
            flat: dict[int, torch.Tensor] = {}
            for group in mine:
                flat.update(zip(group["flat_index"], group["params"], strict=True))
            if sorted(flat) != sorted(i for g in saved for i in g["flat_index"]):
                raise ValueError(
                    "the saved optimiser state holds other parameters than this optimiser; "
                    "was it saved from the same policy?"
                )
            self.param_groups = []
            for group in saved:
                members = [flat[i] for i in group["flat_index"]]
                mark_lr_scale(members, group.get("lr_scale", 1.0))
                options = {k: v for k, v in group.items() if k != "params"}
                self.add_param_group({**options, "params": members})
        super().load_state_dict(state_dict)

    def step(self, closure: Any = None) -> Any:
        scaled = []
        for group in self.param_groups:
            scale = group.get("lr_scale", 1.0)
            if scale != 1.0:
                scaled.append((group, group["lr"]))
                group["lr"] = group["lr"] * scale
        try:
            return super().step(closure)
        finally:
            for group, lr in scaled:
                group["lr"] = lr


_SCALED: dict[type, type] = {}


def lr_scaled(optimizer_class: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """The ``torch.optim`` class ``optimizer_class`` with per-group learning-rate scales.

    The returned class takes the same arguments. Built from a flat parameter list (as SB3 and
    RLlib build optimisers), it groups the parameters by their :func:`mark_lr_scale` tags; at
    every ``step`` each group runs at ``lr * lr_scale``. Calling this twice with one class gives
    the same class; an already scaled class is returned as is.
    """
    if issubclass(optimizer_class, _LRScaledMixin):
        return optimizer_class
    if optimizer_class not in _SCALED:
        name = f"LRScaled{optimizer_class.__name__}"
        _SCALED[optimizer_class] = type(
            name,
            (_LRScaledMixin, optimizer_class),
            {"__doc__": f"{optimizer_class.__name__} with per-group lr scales (see lr_scaled)."},
        )
    return _SCALED[optimizer_class]


# Ready-made classes under stable import paths (saved SB3 models store the class by reference).
class LRScaledAdam(_LRScaledMixin, torch.optim.Adam):
    """``torch.optim.Adam`` with per-group learning-rate scales (see :func:`lr_scaled`)."""


class LRScaledAdamW(_LRScaledMixin, torch.optim.AdamW):
    """``torch.optim.AdamW`` with per-group learning-rate scales (see :func:`lr_scaled`)."""


class LRScaledRMSprop(_LRScaledMixin, torch.optim.RMSprop):
    """``torch.optim.RMSprop`` with per-group learning-rate scales (see :func:`lr_scaled`)."""


class LRScaledSGD(_LRScaledMixin, torch.optim.SGD):
    """``torch.optim.SGD`` with per-group learning-rate scales (see :func:`lr_scaled`)."""


_SCALED.update(
    {
        torch.optim.Adam: LRScaledAdam,
        torch.optim.AdamW: LRScaledAdamW,
        torch.optim.RMSprop: LRScaledRMSprop,
        torch.optim.SGD: LRScaledSGD,
    }
)


def effective_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """The rate each group steps at: ``lr * lr_scale`` (``lr`` for groups without a scale)."""
    return [g["lr"] * g.get("lr_scale", 1.0) for g in optimizer.param_groups]


def encoder_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The pretrained-backbone parameters under ``module``: those of every submodule named
    ``backbone`` (the MobileNetV4 inside this package's extractors and RLlib module), each once.
    The projection and the heads are new layers and are not included."""
    seen: dict[int, nn.Parameter] = {}
    for name, child in module.named_modules():
        if name.split(".")[-1] == "backbone":
            for param in child.parameters():
                seen.setdefault(id(param), param)
    return list(seen.values())


def _rebuild(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """An :func:`lr_scaled` copy of ``optimizer`` over the same parameters, state kept."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    base = type(optimizer)
    if isinstance(optimizer, _LRScaledMixin):
        base = next(c for c in base.__mro__[1:] if not issubclass(c, _LRScaledMixin))
    options = {k: v for k, v in optimizer.defaults.items() if k != "differentiable"}
    options["lr"] = optimizer.param_groups[0]["lr"]
    new = lr_scaled(base)(params, **options)
    for param in params:  # Adam's moments etc. are kept per parameter
        if param in optimizer.state:
            new.state[param] = optimizer.state[param]
    return new


def apply_encoder_lr_scale(model: Any, scale: float) -> int:
    """Make a built SB3 algorithm train its pretrained encoder(s) at ``scale`` x the learning rate.

    Tags the parameters of every ``backbone`` in ``model.policy`` (:func:`encoder_parameters`)
    and replaces the policy's optimiser(s) (``policy.optimizer``; SAC's actor and critic ones)
    by :func:`lr_scaled` copies with the same options and state. SB3's learning-rate schedule
    then sets the heads' rate and the encoder follows at ``scale`` times it, for the whole run.
    Call it after building or loading the model, before ``learn``.

    Args:
        model: an SB3 / sb3-contrib algorithm whose extractor has a ``backbone``.
        scale: the encoder's rate as a fraction of the learning rate (> 0).

    Returns:
        The number of encoder parameters tagged.

    Raises:
        ValueError: ``scale`` is not > 0, or the policy has no ``backbone`` (not one of this
            package's encoders).
    """
    scale = check_lr_scale(scale)
    policy = model.policy
    params = encoder_parameters(policy)
    if not params:
        raise ValueError(
            f"{type(policy).__name__} has no pretrained encoder (no submodule named 'backbone'): "
            "encoder_lr_scale needs one of mnv4_rl's extractors (mnv4_policy_kwargs)"
        )
    mark_lr_scale(params, scale)
    for owner in (policy, getattr(policy, "actor", None), getattr(policy, "critic", None)):
        optimizer = getattr(owner, "optimizer", None) if owner is not None else None
        if isinstance(optimizer, torch.optim.Optimizer):
            owner.optimizer = _rebuild(optimizer)
            # Saved with the model: a loaded model rebuilds the scaled class, and its
            # load_state_dict restores the groups and their scales.
            kwargs = getattr(model, "policy_kwargs", None)
            if isinstance(kwargs, dict):
                kwargs["optimizer_class"] = type(owner.optimizer)
    return len(params)
