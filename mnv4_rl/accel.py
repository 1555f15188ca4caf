"""Opt-in speed-ups: the compiled path (``torch.compile`` with a safe fallback to eager PyTorch)
and glibc malloc settings for training on CPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import warnings
from typing import Any

import torch
from torch import nn

__all__ = ["MALLOC_SETTINGS", "CompiledModule", "compile_model", "tune_malloc"]

#: ``mallopt`` parameters (numbers from glibc's ``malloc.h``) and the values :func:`tune_malloc` sets.
MALLOC_SETTINGS: dict[str, tuple[int, int]] = {
    "M_TRIM_THRESHOLD": (-1, 2**31 - 1),  # keep up to 2 GiB of freed heap instead of trimming it
    "M_TOP_PAD": (-2, 256 * 2**20),  # grow the heap 256 MiB at a time (untouched pages cost no RSS)
    "M_MMAP_THRESHOLD": (-3, 2**30),  # serve blocks below 1 GiB from the heap, not from mmap
}


def tune_malloc() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of handing it back to the OS.

    By default glibc serves every block above its mmap threshold (32 MiB at most) with a fresh
    ``mmap`` and unmaps it on ``free``, so each such tensor is faulted in page by page when it is
    written, at every training step. After this call such blocks come from the heap and are
    reused. On the development machine this made a classifier's training step at 224x224 1.5-1.8x
    faster; at RL shapes, where few tensors are that large, end-to-end runs gained nothing
    reliable (``docs/performance.md``).

    Process-wide and not undone, so it is an opt-in for programs, not something a library does
    on import: call it once at start-up (``examples/train_classifier.py`` does by default; the
    Atari examples and ``mnv4-rl-bench`` take ``--tune-malloc``). Exact: only where memory comes from
    changes, never a value. Freed memory stays with the process (up to the trim threshold)
    rather than going back to the OS, which can raise peak resident memory a little.

    Returns:
        True when the settings were applied; False, with a warning, where glibc's ``mallopt`` is
        not available (macOS, Windows, musl).
    """
    libc_name = platform.libc_ver()[0]
    path = ctypes.util.find_library("c") if libc_name == "glibc" else None
    mallopt = getattr(ctypes.CDLL(path), "mallopt", None) if path else None
    if mallopt is None:
        warnings.warn(
            f"tune_malloc: glibc's mallopt is not available here (libc: {libc_name or 'unknown'}, "
            f"{platform.system()}); the allocator keeps its defaults",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    for name, (param, value) in MALLOC_SETTINGS.items():
        if mallopt(param, value) != 1:
            raise RuntimeError(f"mallopt({name}, {value}) was refused by this glibc")
    return True


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
