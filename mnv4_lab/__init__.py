"""The lab: Atari environments, the throughput benchmark, learning studies and the classifier's
demo data. It uses the library (:mod:`mnv4_rl`); the library never imports it."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError
from .malloc import tune_malloc

__all__ = ["UsageError", "tensorboard_dir", "tune_malloc"]


def tensorboard_dir(run_dir: Path) -> str:
    """``run_dir/tb`` for SB3's ``tensorboard_log``, after checking that tensorboard is installed."""
    try:
        import tensorboard  # noqa: F401 - SB3 imports it only once training has started
    except ImportError:
        raise UsageError(
            "TensorBoard logging needs the tensorboard package: pip install 'mnv4_rl[examples]', "
            "or pass --no-tensorboard"
        ) from None
    return str(run_dir / "tb")
