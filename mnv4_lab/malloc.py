"""glibc malloc settings for training on CPU: a process-wide switch, so it lives in the lab and
is called by programs (the examples, the benchmark), never by the library on import."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import warnings

__all__ = ["MALLOC_SETTINGS", "tune_malloc"]

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
