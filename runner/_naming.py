"""Run names derived from the config.

The rule (also in the README):

1. Start with ``<model>-<data>``: the model group choice, then the dataset
   choice, or for ``dataset=csv`` the file's stem (``rf-titanic``).
2. Append, in command-line order, one ``key=value`` part for each override
   whose value differs from the default: other group choices
   (``split=time``) and keys, named by their last component
   (``max_depth=3``) or in full when two overrides share it.  Tracking,
   Hydra and data-reading keys (``tracking.*``, ``hydra.*``,
   ``dataset.path``, ``dataset.target``, ``dataset.positive_label``,
   ``dataset.header``, ``dataset.sep``, ``dataset.na_values``,
   ``dataset.thousands``, ``dataset.drop_missing_target``,
   ``dataset.time_column``) never appear.
3. Values are short: floats with 4 significant digits, paths by their last
   part, text cut to 24 characters; ``/`` never appears.
4. Parts are joined with ``-``; names longer than 100 characters are cut and
   end with 6 hex digits of a hash of the whole name.

Overrides that differ give different names, so the jobs of a grid sweep have
unique names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

# Keys that say where the data is and how to read it, not what the experiment
# varies; `dataset.drop` (which changes the features) stays visible.
_HIDDEN_PREFIXES = (
    "tracking",
    "hydra",
    "dataset.path",
    "dataset.target",
    "dataset.positive_label",
    "dataset.header",
    "dataset.sep",
    "dataset.na_values",
    "dataset.thousands",
    "dataset.drop_missing_target",
    "dataset.time_column",
)
_MAX_LEN = 100


def run_name(
    model: str,
    data_label: str,
    overrides: list[tuple[str, Any]],
    default_of: Callable[[str], Any],
) -> str:
    """Build the run name; ``default_of(key)`` gives a key's default value."""
    shown = [(k, v) for k, v in overrides if _shown(k) and v != default_of(k)]
    leaves = [k.lstrip("+~").rsplit(".", 1)[-1] for k, _ in shown]
    parts = [f"{model}-{data_label}"]
    for (key, value), leaf in zip(shown, leaves, strict=True):
        label = leaf if leaves.count(leaf) == 1 else key.lstrip("+~")
        parts.append(f"{label}={short_value(value)}")
    name = "-".join(parts).replace("/", "_")
    if len(name) > _MAX_LEN:
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        name = f"{name[: _MAX_LEN - 7]}~{digest}"
    return name


def _shown(key: str) -> bool:
    bare = key.lstrip("+~")
    if bare in ("model", "dataset", "sweep"):
        return False
    return not any(bare == p or bare.startswith(p + ".") for p in _HIDDEN_PREFIXES)


def short_value(value: Any) -> str:
    """Short text of an override value for a run name."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(short_value(v) for v in value) + "]"
    text = str(value)
    if "/" in text:
        text = PurePosixPath(text).name or text.strip("/").replace("/", "_")
    return text[:24]
