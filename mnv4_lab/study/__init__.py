"""Seeded learning studies: ``mnv4-rl-study run`` trains a grid of game x encoder x seed with the
Atari examples, ``mnv4-rl-study report`` turns the finished runs into tables, curves and an
aggregate with confidence intervals."""

from __future__ import annotations

import sys

from mnv4_rl._extras import require

__all__ = ["main"]

#: The packages the study runs on (the Atari examples, the report's statistics and plots).
NEEDS = ("stable_baselines3", "gymnasium", "ale_py", "cv2", "scipy", "matplotlib")


def main(argv: list[str] | None = None) -> None:
    """Console script ``mnv4-rl-study``; on an install without the lab's packages it exits with
    one line naming the extras to install (no traceback).

    Args:
        argv: the command line (``sys.argv[1:]`` when None).
    """
    try:
        for module in NEEDS:
            require(module, "atari,examples", "mnv4-rl-study")
    except ImportError as error:
        sys.exit(str(error))
    from .cli import main as run

    run(argv)
