"""Opt-in speed-up: the compiled path (``torch.compile`` with a safe fallback to eager PyTorch)."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

__all__ = ["CompiledModule", "compile_model"]


class CompiledModule(nn.Module):
    """Wraps a module and runs it through ``torch.compile``; falls back to eager on failure.

    The wrapped module stays the owner of every parameter (``state_dict`` keys are unchanged, with
    the prefix ``module.``), so optimisers, checkpoints and weight updates see the same tensors.
    If compilation fails (no C++ compiler, an unsupported platform), a warning says why and the
    eager module is used from then on.

    Args:
        module: the model to compile.
        inference_only: compile only calls made without autograd (``torch.no_grad`` /
            ``inference_mode``, e.g. RL rollouts) and run training calls eagerly. On the development
            CPU a compiled training step was slower than eager (``docs/performance.md``).
        freeze: let inductor treat the weights as constants (folds them, prepacks convolutions).
            Only for weights that never change again (evaluation, deployment): after a weight
            update a frozen graph would keep using the old weights.
        **compile_kwargs: passed to ``torch.compile`` (``mode``, ``dynamic``, ``backend``...).
    """

    def __init__(
        self,
        module: nn.Module,
        inference_only: bool = True,
        freeze: bool = False,
        **compile_kwargs: Any,
    ) -> None:
        super().__init__()
        self.module = module
        self.inference_only = inference_only
        self.freeze = freeze
        options = dict(compile_kwargs.pop("options", None) or {})
        if freeze:
            options["freezing"] = True
        if options:
            compile_kwargs["options"] = options
        # Kept out of the module registry: the compiled wrapper shares ``module``'s parameters
        # and must not duplicate them in state_dict() or parameters().
        object.__setattr__(self, "_compiled", torch.compile(module, **compile_kwargs))
        self._failed = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._failed or (self.inference_only and torch.is_grad_enabled()):
            return self.module(*args, **kwargs)
        try:
            return self._compiled(*args, **kwargs)
        except Exception as error:  # a compiler failure must not stop training: run eagerly
            if isinstance(error, ValueError | TypeError) and "input" in str(error):
                raise  # the model's own input checks: the user's error, not the compiler's
            self._failed = True
            reason = " ".join(str(error).split())[:300]
            warnings.warn(
                f"torch.compile failed ({type(error).__name__}: {reason}); "
                f"running the eager model instead",
                RuntimeWarning,
                stacklevel=2,
            )
            return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)  # num_features, forward_head, ... of the model


def compile_model(
    model: nn.Module, inference_only: bool = True, freeze: bool = False, **compile_kwargs: Any
) -> CompiledModule:
    """Return ``model`` wrapped in :class:`CompiledModule` (opt-in; eager is the default path).

    Example: ``fast = mnv4_rl.compile_model(model)``; rollouts under ``torch.inference_mode()``
    run compiled, training steps run the same parameters eagerly.
    """
    return CompiledModule(model, inference_only=inference_only, freeze=freeze, **compile_kwargs)
