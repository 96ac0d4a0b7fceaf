"""Regression metrics from one array of errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from runner.metrics._common import Bools, Floats, Value, suite_caveat
from runner.metrics._proba import EPS

Compute = Callable[["RegressionData"], list[Value]]


@dataclass
class RegressionData:
    """Validated targets and predictions, with the errors computed once."""

    y_true: Floats
    y_pred: Floats

    @cached_property
    def abs_error(self) -> Floats:
        return np.abs(self.y_pred - self.y_true)

    @cached_property
    def abs_true(self) -> Floats:
        return np.abs(self.y_true)

    @cached_property
    def zero(self) -> Bools:
        # Below epsilon scikit-learn divides by epsilon instead of |y|; we
        # treat such a target as zero, so that mape is undefined there.
        return self.abs_true < EPS


def as_targets(values: Any, name: str) -> Floats:
    """``values`` as a finite, non-empty 1-D float64 array."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of numbers, got shape "
            f"{array.shape} and dtype {array.dtype}. Pass one number per row."
        )
    floats = array.astype(np.float64, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(floats)))
    if bad:
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s) out of {floats.size}. "
            "Drop or impute those rows before evaluating."
        )
    return floats


def _mae(d: RegressionData) -> list[Value]:
    return [Value("mae", float(np.mean(d.abs_error)))]


def _rmse(d: RegressionData) -> list[Value]:
    return [Value("rmse", math.sqrt(float(np.mean(np.square(d.abs_error)))))]


def _r2(d: RegressionData) -> list[Value]:
    y = d.y_true
    if y.min() == y.max():
        # The total sum of squares is 0; scikit-learn's 0.0 or 1.0 would look
        # like an ordinary score, so the value is nan.
        rows = " (a single row)" if y.size == 1 else ""
        cause = f"constant target in evaluation split{rows}"
        return [suite_caveat("r2", math.nan, cause)]
    residual = float(np.sum(np.square(d.abs_error)))
    total = float(np.sum(np.square(y - np.mean(y))))
    return [Value("r2", 1 - residual / total)]


def _median_ae(d: RegressionData) -> list[Value]:
    return [Value("median_ae", float(np.median(d.abs_error)))]


def _max_error(d: RegressionData) -> list[Value]:
    return [Value("max_error", float(np.max(d.abs_error)))]


def _wape(d: RegressionData) -> list[Value]:
    total = float(np.sum(d.abs_true))
    if total == 0:
        return [suite_caveat("wape", math.nan, "every true value is 0")]
    return [Value("wape", float(np.sum(d.abs_error)) / total)]


def _smape(d: RegressionData) -> list[Value]:
    scale = d.abs_true + np.abs(d.y_pred)
    terms = np.zeros_like(scale)
    # A row with y = y_hat = 0 is a perfect prediction: it adds 0.
    np.divide(2 * d.abs_error, scale, out=terms, where=scale > 0)
    return [Value("smape", float(np.mean(terms)))]


def _mape(d: RegressionData) -> list[Value]:
    zeros = int(np.count_nonzero(d.zero))
    if zeros:
        cause = (
            f"{zeros} of {d.zero.size} true values are 0, where the percentage "
            "error is infinite; log wape or mape_nonzero instead"
        )
        return [suite_caveat("mape", math.nan, cause)]
    return [Value("mape", float(np.mean(d.abs_error / d.abs_true)))]


def _mape_nonzero(d: RegressionData) -> list[Value]:
    keep = ~d.zero
    left = int(keep.size - np.count_nonzero(keep))
    if left == keep.size:
        return [suite_caveat("mape_nonzero", math.nan, "every true value is 0")]
    value = float(np.mean(d.abs_error[keep] / d.abs_true[keep]))
    if not left:
        return [Value("mape_nonzero", value)]
    cause = f"{left} of {keep.size} rows left out because their true value is 0"
    return [suite_caveat("mape_nonzero", value, cause)]


REGRESSION: dict[str, Compute] = {
    "mae": _mae,
    "rmse": _rmse,
    "r2": _r2,
    "median_ae": _median_ae,
    "max_error": _max_error,
    "wape": _wape,
    "smape": _smape,
    "mape": _mape,
    "mape_nonzero": _mape_nonzero,
}
