"""Errors the runner raises for bad input.

::

    RunnerError                 base of every error meant for the user
    ├── ConfigError             the composed config is wrong (key, value, choice)
    └── DataError               the data cannot serve the configured task

Each message says what was wrong, the value given and how to fix it.  The
command line prints the message alone, without a traceback, and exits with
status 2 before any run is created.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RunnerError(Exception):
    """Base class of the errors caused by the user's config or data."""


class ConfigError(RunnerError):
    """The config names something that does not exist or has a bad value."""


class DataError(RunnerError):
    """The data does not fit the configured task or split."""


def close_matches(given: str, options: Iterable[str], cutoff: float = 0.5) -> list[str]:
    """Up to three options closest to ``given``, best first.

    The default cutoff is lower than difflib's 0.6, so that short names match
    (``f2`` -> ``f1``).
    """
    return difflib.get_close_matches(
        str(given), [str(o) for o in options], n=3, cutoff=cutoff
    )


def did_you_mean(given: str, options: Iterable[str], cutoff: float = 0.5) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest options, or ``""``."""
    matches = close_matches(given, options, cutoff)
    if not matches:
        return ""
    quoted = " or ".join(f"'{m}'" for m in matches)
    return f" Did you mean {quoted}?"
