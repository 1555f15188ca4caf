"""Old keyword names that keep working, with a deprecation warning."""

from __future__ import annotations

import warnings
from typing import Any


def renamed_keyword(old_value: Any, new_value: Any, old: str, new: str, owner: str) -> Any:
    """``new_value``, or ``old_value`` with a ``DeprecationWarning`` when the old keyword was used.

    One word names one concept across the public API (``encoder``); ``variant=`` and ``name=``
    were earlier spellings of it.
    """
    if old_value is None:
        return new_value
    warnings.warn(
        f"{owner}: the keyword {old}= is now {new}= (same meaning); {old}= will be removed",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value
