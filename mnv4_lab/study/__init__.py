"""Seeded learning studies: ``mnv4-rl-study run`` trains a grid of env x encoder x seed as Ray
Tune trials (Atari with the examples' protocol, CarRacing-v3 in RGB), ``mnv4-rl-study report``
turns the finished runs into tables, curves and an aggregate with confidence intervals
(docs/studies.md)."""

from __future__ import annotations

from mnv4_rl._extras import exit_unless_installed

__all__ = ["main"]

#: The packages the study runs on (Atari envs, the report's statistics and plots); Ray Tune and
#: CarRacing's box2d are checked where they are used.
NEEDS = ("stable_baselines3", "gymnasium", "ale_py", "cv2", "scipy", "matplotlib")


def main(argv: list[str] | None = None) -> None:
    """Console script ``mnv4-rl-study``; on an install without the lab's packages it exits with
    one line naming the extras to install (no traceback).

    Args:
        argv: the command line (``sys.argv[1:]`` when None).
    """
    exit_unless_installed(NEEDS, "atari,examples", "mnv4-rl-study")
    from .cli import main as run

    run(argv)
