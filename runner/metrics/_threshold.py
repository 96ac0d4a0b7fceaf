"""Choosing the decision threshold of a binary score on validation data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from runner.metrics._common import Floats
from runner.metrics._registry import suggest
from runner.metrics._types import UnknownMetricError

Ints = NDArray[np.int64]
_Objective = Callable[[Ints, Ints, int, int], Floats]

# Values within this relative distance of the best count as ties: MCC goes
# through a square root, so equal real values may differ in the last bit.
_TIE_TOLERANCE = 1e-12


def _f1(tp: Ints, pp: Ints, n_pos: int, n: int) -> Floats:
    return _divide(2 * tp, pp + n_pos)


def _accuracy(tp: Ints, pp: Ints, n_pos: int, n: int) -> Floats:
    tn = (n - n_pos) - (pp - tp)
    return (tp + tn) / n


def _balanced_accuracy(tp: Ints, pp: Ints, n_pos: int, n: int) -> Floats:
    n_neg = n - n_pos
    tn = n_neg - (pp - tp)
    # One integer numerator over one denominator keeps equal values equal.
    return (tp * n_neg + tn * n_pos) / (2 * n_pos * n_neg)


def _mcc(tp: Ints, pp: Ints, n_pos: int, n: int) -> Floats:
    fp = pp - tp
    fn = n_pos - tp
    tn = (n - n_pos) - fp
    den = np.sqrt(pp * float(n_pos) * float(n - n_pos) * (n - pp))
    # A constant prediction carries no information: MCC 0 (scikit-learn's
    # convention too), so that such a threshold can still be compared.
    return np.nan_to_num(_divide(tp * tn - fp * fn, den), nan=0.0)


def _divide(num: NDArray[Any], den: NDArray[Any]) -> Floats:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


_OBJECTIVES: dict[str, _Objective] = {
    "f1": _f1,
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "mcc": _mcc,
}


def tune_threshold(
    y_true_is_pos: NDArray[np.bool_], scores: Any, metric: str = "f1"
) -> float:
    """Threshold on ``scores`` that maximises a binary metric.

    A row is predicted positive when its score is ``>=`` the threshold. The
    candidates are the distinct scores (each gives a different prediction)
    and ``inf`` (predict no positive). Of the candidates whose value is
    within 1e-12 (relative) of the best, the smallest is returned. Fit it on
    validation data only: tuned on the test split, the test score is biased.

    Parameters
    ----------
    y_true_is_pos : ndarray of bool
        True for rows of the positive class.
    scores : array-like of float
        Score of the positive class (probability or decision function).
    metric : {"f1", "accuracy", "balanced_accuracy", "mcc"}, default="f1"
        The metric to maximise.

    Returns
    -------
    float
        The threshold: one of the scores, or ``inf``.

    Raises
    ------
    UnknownMetricError
        If ``metric`` is not one of the tunable metrics.
    ValueError
        If the inputs are not 1-D of equal length, the scores are not finite,
        or one class is missing (no threshold is better than another).

    Examples
    --------
    >>> import numpy as np
    >>> tune_threshold(np.array([False, False, True, True]), [0.1, 0.4, 0.35, 0.8])
    0.35
    """
    objective = _objective(metric)
    is_pos, values = _threshold_inputs(y_true_is_pos, scores)
    order = np.argsort(values)
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    pos_below = np.r_[0, np.cumsum(is_pos[order], dtype=np.int64)][starts]
    n, n_pos = values.size, int(np.count_nonzero(is_pos))
    # Candidate i predicts positive every row from starts[i] on; the last
    # candidate (inf) predicts none.
    tp = np.r_[n_pos - pos_below, 0]
    pp = np.r_[n - starts, 0]
    score = objective(tp, pp, n_pos, n)
    best = np.nanmax(score)
    first = int(np.flatnonzero(score >= best - _TIE_TOLERANCE * abs(best))[0])
    return float(ordered[starts[first]]) if first < starts.size else float("inf")


def _objective(metric: str) -> _Objective:
    if metric not in _OBJECTIVES:
        known = list(_OBJECTIVES)
        raise UnknownMetricError(metric, "binary", suggest(metric, known), known)
    return _OBJECTIVES[metric]


def _threshold_inputs(
    y_true_is_pos: Any, scores: Any
) -> tuple[NDArray[np.bool_], Floats]:
    is_pos = np.asarray(y_true_is_pos)
    if is_pos.dtype != bool:
        raise ValueError(
            f"y_true_is_pos must be a boolean array, got dtype {is_pos.dtype}. "
            "Pass y_true == positive_label."
        )
    values = np.asarray(scores, dtype=np.float64)
    if is_pos.ndim != 1 or values.shape != is_pos.shape:
        raise ValueError(
            f"y_true_is_pos and scores must be 1-D of equal length, got shapes "
            f"{is_pos.shape} and {values.shape}. Pass one score per row."
        )
    if not np.isfinite(values).all():
        raise ValueError(
            "scores contain NaN or infinite values. Drop or impute those rows "
            "before tuning the threshold."
        )
    n_pos = int(np.count_nonzero(is_pos))
    if n_pos in (0, is_pos.size):
        raise ValueError(
            f"tuning a threshold needs both classes, but {n_pos} of "
            f"{is_pos.size} rows are positive. Use a validation split that holds "
            "both classes (a stratified split)."
        )
    return is_pos, values
