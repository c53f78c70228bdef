"""Fast mode and full mode.

Students run the **full** mode (the default): whole data sets, the training
budgets the lessons quote. CI and the grader set ``COURSE_MODE=fast``: small
subsets and few epochs, with accuracy bars of their own.
"""

from __future__ import annotations

import os
from typing import TypeVar

ENV_VAR = "COURSE_MODE"
MODES = ("fast", "full")

T = TypeVar("T")


def mode() -> str:
    """Return ``"fast"`` or ``"full"`` from ``$COURSE_MODE`` (default ``"full"``).

    Raises
    ------
    ValueError
        If the variable holds anything else, so a typo never silently picks a mode.
    """
    value = os.environ.get(ENV_VAR, "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(f"{ENV_VAR}={value!r} is not a mode; use one of {MODES}.")
    return value


def is_fast() -> bool:
    """True in fast mode."""
    return mode() == "fast"


def pick(fast: T, full: T) -> T:
    """Return ``fast`` in fast mode and ``full`` in full mode.

    Examples
    --------
    >>> epochs = pick(fast=1, full=10)
    """
    return fast if is_fast() else full


def announce() -> None:
    """Print one line that says which mode this notebook runs in."""
    if is_fast():
        line = f"Mode: fast ({ENV_VAR}=fast): small subsets and few epochs, as in CI and grading."
    else:
        line = f"Mode: full: the whole data set and the full training budget (set {ENV_VAR}=fast for a quick run)."
    print(line)
