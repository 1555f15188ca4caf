"""One clear error for an integration whose extra is not installed."""

from __future__ import annotations

import importlib.util


def require(module: str, extra: str, what: str) -> None:
    """Raise ``ImportError`` naming the extra to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{what} needs the {module} package: pip install 'mnv4_rl[{extra}]'")
