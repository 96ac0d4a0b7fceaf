"""Turning labels and metric names into keys every MLflow store accepts."""

from __future__ import annotations

import hashlib
import re
import unicodedata

#: Longest key produced; MLflow stores accept 250 characters, and a caller adds
#: a split prefix such as ``test/``.
MAX_KEY_LENGTH = 200

# Order matters: two-character operators before their one-character prefixes.
_SPELLED_OUT = (
    ("<=", "le_"),
    (">=", "ge_"),
    ("!=", "ne_"),
    ("==", "eq_"),
    ("<", "lt_"),
    (">", "gt_"),
    ("@", "_at_"),
    ("%", "_pct_"),
    ("+", "_plus_"),
    ("&", "_and_"),
    ("[", "."),
    ("]", ""),
    ("=", "_"),
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/]")
_RUNS = re.compile(r"([_./])\1+")


def safe_key(name: object) -> str:
    """Sanitise a label or metric name into an MLflow-safe metric key.

    The rule, applied in this order:

    1. ``str(name)``, accents dropped (``é`` -> ``e``, Unicode NFKD).
    2. Comparison and special characters are spelled out: ``<=`` -> ``le_``,
       ``>=`` -> ``ge_``, ``!=`` -> ``ne_``, ``==`` -> ``eq_``, ``<`` ->
       ``lt_``, ``>`` -> ``gt_``, ``@`` -> ``_at_``, ``%`` -> ``_pct_``,
       ``+`` -> ``_plus_``, ``&`` -> ``_and_``; a bracketed parameter becomes
       a dotted suffix (``[`` -> ``.``, ``]`` dropped, ``=`` -> ``_``).
    3. Every other character outside ``[A-Za-z0-9_.-/]`` becomes ``_``;
       ``:`` is replaced too, since some stores and file systems reject it.
    4. Runs of ``_``, ``.`` or ``/`` shrink to one; ``_``, ``.`` and ``/`` are
       stripped from both ends and ``.`` path segments dropped, so the key
       never resolves to another path.
    5. An empty result becomes ``empty``; a key longer than 200 characters
       is cut to 191 and ends with ``-`` plus 8 hex digits of its SHA-256.

    The function is deterministic and idempotent. Distinct names can map to
    the same key (``a b`` and ``a_b``); :func:`evaluate` rejects such class
    labels before computing anything.

    Parameters
    ----------
    name : object
        A class label or metric name; anything with a ``str``.

    Returns
    -------
    str
        The sanitised key.

    Examples
    --------
    >>> safe_key("recall@10")
    'recall_at_10'
    >>> safe_key("pinball_loss[alpha=0.9]")
    'pinball_loss.alpha_0.9'
    >>> safe_key(">50K"), safe_key("<=50K")
    ('gt_50K', 'le_50K')
    """
    text = _ascii(str(name))
    for old, new in _SPELLED_OUT:
        text = text.replace(old, new)
    text = _RUNS.sub(r"\1", _UNSAFE.sub("_", text))
    # A "." path segment would make the key resolve to another name.
    text = "/".join(part for part in text.split("/") if part not in ("", "."))
    text = text.strip("_./")
    if not text:
        return "empty"
    if len(text) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        text = text[: MAX_KEY_LENGTH - 9].rstrip("_./") + "-" + digest
    return text


def _ascii(text: str) -> str:
    """Drop combining accents so that ``café`` keeps its letters."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
