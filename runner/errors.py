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


def did_you_mean(given: str, options: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest option, or ``""``."""
    # A lower cutoff than difflib's 0.6, so short names match ('f2' -> 'f1').
    matches = difflib.get_close_matches(
        str(given), [str(o) for o in options], n=3, cutoff=0.5
    )
    if not matches:
        return ""
    quoted = " or ".join(f"'{m}'" for m in matches)
    return f" Did you mean {quoted}?"
