"""Small pieces shared by the per-task metric modules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from runner.metrics._types import (
    PRIMARY_SETTING,
    SUITE_SETTING,
    ZERO_DIVISION_SETTING,
)

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


class Value(NamedTuple):
    """One logged value; ``cause`` is set when it is a fallback or caveat."""

    key: str
    value: float
    cause: str | None = None
    setting: str = ZERO_DIVISION_SETTING


def ratio(key: str, num: int, den: int, fallback: float, cause: str) -> Value:
    """``num / den``, or ``fallback`` with ``cause`` when ``den`` is 0.

    Python's int / int is correctly rounded, as is numpy's float64 division
    of the same (exactly representable) counts, so the two agree bit for bit.
    """
    if den:
        return Value(key, num / den)
    return Value(key, fallback, cause)


def per_class_ratio(num: NDArray[np.int64], den: NDArray[np.int64]) -> Floats:
    """Elementwise ``num / den`` with nan where ``den`` is 0."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def class_phrase(labels: Sequence[object]) -> str:
    """``class '2'`` or ``classes '2', '3'`` for a warning's cause."""
    quoted = ", ".join(f"'{label}'" for label in labels)
    return f"class {quoted}" if len(labels) == 1 else f"classes {quoted}"


def left_out(zero_division: float) -> str:
    """How a 0/0 class enters an average, for a warning's cause."""
    if math.isnan(zero_division):
        return "left out of the mean"
    return f"counted as {zero_division!r}"


def accuracy_value(
    correct: int, n: int, majority: int, label: object, note: str = ""
) -> Value:
    """Accuracy, with the accuracy-paradox caveat when it is not above the
    majority-class baseline (a model can score 0.99 by never flagging fraud).
    """
    accuracy = correct / n
    baseline = majority / n
    if accuracy > baseline or accuracy == 1.0:
        return Value("accuracy", accuracy)
    cause = (
        f"accuracy paradox: accuracy {accuracy:.6g} is not above the "
        f"majority-class baseline {baseline:.6g} (always predicting '{label}')"
        f"{note}; rank models by recall, balanced_accuracy or mcc instead"
    )
    return Value("accuracy", accuracy, cause, PRIMARY_SETTING)


def mcc_value(
    t: Sequence[int], p: Sequence[int], correct: int, fallback: float
) -> Value:
    """Matthews correlation from per-class true counts ``t`` and predicted
    counts ``p``. Python ints keep the covariances exact for any n.
    """
    n = sum(t)
    cov_tp = correct * n - sum(a * b for a, b in zip(t, p, strict=True))
    cov_pp = n * n - sum(b * b for b in p)
    cov_tt = n * n - sum(a * a for a in t)
    if cov_pp and cov_tt:
        # float(product) rounds once, as a float64 product of the exact
        # factors would, so the square root sees the same number.
        return Value("mcc", cov_tp / math.sqrt(float(cov_pp * cov_tt)))
    causes = []
    if not cov_tt:
        causes.append("y_true holds a single class")
    if not cov_pp:
        causes.append("y_pred holds a single class")
    return Value("mcc", fallback, " and ".join(causes))


def suite_caveat(key: str, value: float, cause: str) -> Value:
    """A value whose fallback is fixed (nan), so only the suite can avoid it."""
    return Value(key, value, cause, SUITE_SETTING)
