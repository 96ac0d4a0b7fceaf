"""The one entry point that computes a whole metric suite."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from runner.metrics._binary import BINARY, BinaryData
from runner.metrics._common import Floats, Value
from runner.metrics._labels import (
    ClassSpec,
    as_labels,
    check_no_classes,
    class_spec,
    encode,
)
from runner.metrics._multiclass import MULTICLASS, MulticlassData
from runner.metrics._registry import (
    REGISTRY,
    check_task,
    default_suite,
    validate_suite,
)
from runner.metrics._regression import REGRESSION, RegressionData, as_targets
from runner.metrics._types import (
    SUITE_SETTING,
    ZERO_DIVISION_SETTING,
    ConfusionTable,
    Evaluation,
    MetricWarning,
    Task,
)

_SKIPPED = (
    "scores are not probabilities (scores_are_proba=False, e.g. decision_function"
    " output); metric skipped"
)


def evaluate(
    task: str,
    y_true: Any,
    y_pred: Any,
    *,
    classes: Sequence[Any] | NDArray[Any] | None = None,
    positive_label: Any = None,
    scores: Any = None,
    scores_are_proba: bool = True,
    suite: Sequence[str] | None = None,
    zero_division: float = math.nan,
) -> Evaluation:
    """Compute a metric suite on one evaluation split.

    Every input is checked before anything is computed. The count metrics of
    a classification task all come from one confusion matrix built in one
    ``np.bincount`` pass; the ranking metrics from one sort of the scores.

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
        The learning task.
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels (any dtype, strings included) or, for
        regression, numbers.
    classes : sequence, default=None
        Every class label in the model's order (``model.classes_``); required
        for classification. Labels outside it are an error.
    positive_label : object, default=None
        The positive class; required for "binary" and one of ``classes``.
    scores : array-like, default=None
        Binary: shape (n,), the score of the positive class. Multiclass:
        shape (n, k), columns in the order of ``classes``. Probabilities or
        decision-function values. None leaves the ranking and probability
        metrics out of the default suite.
    scores_are_proba : bool, default=True
        False for decision-function scores: ``log_loss`` and ``brier`` are
        then skipped, with a warning, instead of failing.
    suite : sequence of str, default=None
        Metric names; None means :func:`default_suite` of ``task``.
    zero_division : float, default=nan
        Value logged for a 0/0 count ratio (precision, recall, F1,
        specificity, MCC); nan or a number in [0, 1]. Each use adds a
        :class:`MetricWarning` naming ``metrics.zero_division``.

    Returns
    -------
    Evaluation
        Values by logged key, warnings, and the confusion table.

    Raises
    ------
    UnknownMetricError
        If a suite name is not in :data:`REGISTRY`.
    ValueError
        If any input is malformed: wrong task for a metric, missing classes or
        positive label, labels outside ``classes``, mismatched lengths,
        non-finite or out-of-range scores, scores missing for a metric that
        needs them.

    Examples
    --------
    >>> ev = evaluate("binary", [0, 0, 1, 1], [0, 1, 1, 1], classes=[0, 1],
    ...               positive_label=1, suite=["precision", "recall", "tp"])
    >>> ev.values
    {'precision': 0.6666666666666666, 'recall': 1.0, 'tp': 2.0}
    """
    task = check_task(task)
    zero_division = _check_zero_division(zero_division)
    names = _resolve_suite(task, suite, scores)
    if task == "regression":
        check_no_classes(classes, positive_label)
        data = _regression_data(y_true, y_pred, scores)
        return _collect(names, REGRESSION, data, proba=True, confusion=None)
    spec = class_spec(task, classes, positive_label)
    true, pred = _encoded_pair(y_true, y_pred, spec)
    shared = (_scores(scores, true.size, spec, scores_are_proba), scores_are_proba)
    if spec.positive is not None:
        is_pos = (true == spec.positive, pred == spec.positive)
        binary = BinaryData(spec, *is_pos, *shared, zero_division)
        return _collect(names, BINARY, binary, scores_are_proba, binary.confusion)
    multi = MulticlassData(spec, true, pred, *shared, zero_division)
    return _collect(names, MULTICLASS, multi, scores_are_proba, multi.confusion)


def _check_zero_division(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0  # reported below like any other bad value
    if not (math.isnan(number) or 0.0 <= number <= 1.0):
        raise ValueError(
            f"zero_division must be nan or a number in [0, 1], got {value!r}. Set "
            f"{ZERO_DIVISION_SETTING} to .nan (report 0/0 as undefined), 0 or 1."
        )
    return number


def _resolve_suite(task: Task, suite: Sequence[str] | None, scores: Any) -> list[str]:
    if suite is None:
        names = default_suite(task)
        if scores is None:
            names = [n for n in names if REGISTRY[n].needs == "labels"]
        return names
    validate_suite(suite, task)
    names = list(dict.fromkeys(suite))
    needy = [n for n in names if REGISTRY[n].needs != "labels"]
    if scores is None and needy:
        raise ValueError(
            f"metrics {needy} need scores, but scores=None. Pass scores "
            "(predict_proba or decision_function of the model), or remove them "
            f"from {SUITE_SETTING}."
        )
    return names


def _regression_data(y_true: Any, y_pred: Any, scores: Any) -> RegressionData:
    if scores is not None:
        raise ValueError(
            "scores are only for classification, but the task is 'regression'. "
            "Pass the predictions as y_pred and leave scores unset."
        )
    true, pred = as_targets(y_true, "y_true"), as_targets(y_pred, "y_pred")
    _check_lengths(true.size, pred.size)
    return RegressionData(true, pred)


def _encoded_pair(y_true: Any, y_pred: Any, spec: ClassSpec) -> tuple[Any, Any]:
    true, pred = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    _check_lengths(true.size, pred.size)
    return encode(true, spec, "y_true"), encode(pred, spec, "y_pred")


def _check_lengths(n_true: int, n_pred: int) -> None:
    if n_true != n_pred:
        raise ValueError(
            f"y_true has {n_true} rows but y_pred has {n_pred}. Pass the "
            "predictions for exactly the rows of y_true, in the same order."
        )


def _scores(scores: Any, n: int, spec: ClassSpec, proba: bool) -> Floats | None:
    if scores is None:
        return None
    try:
        values = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"scores must be numbers, got {type(scores).__name__} that numpy "
            "cannot convert to float. Pass predict_proba or decision_function "
            "output."
        ) from err
    _check_score_shape(values, n, spec)
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad:
        raise ValueError(
            f"scores contain {bad} NaN or infinite value(s). Fix the model output "
            "or drop those rows before evaluating."
        )
    if proba and (values.min() < 0 or values.max() > 1):
        raise ValueError(
            f"scores_are_proba=True, but scores range from {values.min():.6g} to "
            f"{values.max():.6g}, outside [0, 1]. Pass scores_are_proba=False for "
            "decision_function output."
        )
    return values


def _check_score_shape(values: Floats, n: int, spec: ClassSpec) -> None:
    if spec.positive is not None:
        want: tuple[int, ...] = (n,)
        how = (
            "the score of the positive class, e.g. proba[:, list(classes)."
            "index(positive_label)]"
        )
    else:
        want, how = (n, spec.k), "one column per class, in the order of classes"
    if values.shape != want:
        raise ValueError(
            f"scores must have shape {want}, got {values.shape}. Pass {how}."
        )


def _collect(
    names: list[str],
    computers: dict[str, Callable[[Any], list[Value]]],
    data: Any,
    proba: bool,
    confusion: Callable[[], ConfusionTable] | None,
) -> Evaluation:
    result = Evaluation(confusion=confusion() if confusion else None)
    for name in names:
        if REGISTRY[name].needs == "proba" and not proba:
            result.warnings.append(
                MetricWarning(name, _SKIPPED, SUITE_SETTING, math.nan)
            )
            continue
        for value in computers[name](data):
            result.values[value.key] = value.value
            if value.cause is not None:
                warning = MetricWarning(
                    value.key, value.cause, value.setting, value.value
                )
                result.warnings.append(warning)
    return result
