"""One clear error for an integration whose extra is not installed."""

from __future__ import annotations

import importlib.util


def require(module: str, extra: str, what: str) -> None:
    """Raise ``ImportError`` naming the extra to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{what} needs the {module} package: pip install 'mnv4_rl[{extra}]'")


def exit_unless_installed(modules: tuple[str, ...], extra: str, command: str) -> None:
    """For a console script: exit with :func:`require`'s one-line message (no traceback) when
    one of ``modules`` is missing.

    Args:
        modules: the packages the command runs on.
        extra: the extra(s) that install them (``"atari,examples"``).
        command: the command's name, which the message starts with.

    Raises:
        SystemExit: a package is missing (exit status 1).
    """
    import sys

    try:
        for module in modules:
            require(module, extra, command)
    except ImportError as error:
        sys.exit(str(error))
