"""Throughput benchmark: MobileNetV4 encoders against SB3's NatureCNN (``mnv4-rl-bench``).

See :mod:`mnv4_lab.bench.cli` for what is measured and how. This package imports without SB3:
on a core install (``pip install mnv4_rl``) the command says which extras to install, and the
names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from mnv4_rl._extras import exit_unless_installed

#: The packages the benchmark runs on, all in the extras named by :data:`EXTRAS`.
NEEDS = ("stable_baselines3", "gymnasium", "ale_py", "cv2", "matplotlib")
EXTRAS = "atari,examples"

#: public name -> the submodule that defines it (imported on first access).
_LAZY = {
    "BASELINE": "cli",
    "BenchConfig": "cli",
    "parse_args": "cli",
    "run_benchmark": "cli",
    "EncoderSpec": "encoders",
    "TimmMobileNetV4Extractor": "encoders",
    "parse_encoder": "encoders",
    "policy_kwargs": "encoders",
    "METRICS": "report",
    "csv_columns": "report",
    "dispersion": "report",
    "markdown_table": "report",
    "median": "report",
    "ratio": "report",
    "summarise": "report",
    "verdict": "report",
}

__all__ = ["main", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Console script ``mnv4-rl-bench``; on an install without the lab's packages it exits with
    one line naming the extras to install (no traceback).

    Args:
        argv: the command line (``sys.argv[1:]`` when None).
    """
    exit_unless_installed(NEEDS, EXTRAS, "mnv4-rl-bench")
    from .cli import main as run

    run(argv)
