"""tune_threshold against a brute-force search scored by scikit-learn."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from runner.metrics import UnknownMetricError, tune_threshold

SCORERS = {
    "f1": skm.f1_score,
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "mcc": skm.matthews_corrcoef,
}


def brute_force(
    is_pos: np.ndarray, scores: np.ndarray, metric: str
) -> tuple[list[float], list[float]]:
    """Each candidate threshold, smallest first, and the metric's value there."""
    candidates = [*np.unique(scores).tolist(), math.inf]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = [SCORERS[metric](is_pos, scores >= t) for t in candidates]
    return values, candidates


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 25))
    is_pos = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    is_pos[0], is_pos[-1] = True, False  # both classes
    grid = st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0])
    scores = draw(st.lists(st.one_of(grid, st.floats(-3, 3)), min_size=n, max_size=n))
    return np.array(is_pos), np.array(scores)


@pytest.mark.parametrize("metric", sorted(SCORERS))
@settings(max_examples=40, deadline=None)
@given(problem=problems())
def test_threshold_is_the_smallest_best(
    metric: str, problem: tuple[np.ndarray, np.ndarray]
) -> None:
    is_pos, scores = problem
    chosen = tune_threshold(is_pos, scores, metric)
    values, candidates = brute_force(is_pos, scores, metric)
    best = max(values)
    first = next(i for i, v in enumerate(values) if v >= best - 1e-12)
    assert chosen == candidates[first]


def test_worked_example() -> None:
    is_pos = np.array([False, False, True, True])
    assert tune_threshold(is_pos, [0.1, 0.4, 0.35, 0.8]) == 0.35


def test_predicting_no_positive_can_win_on_accuracy() -> None:
    is_pos = np.array([True, False, False, False, False])
    assert tune_threshold(is_pos, [0.1, 0.9, 0.8, 0.7, 0.6], "accuracy") == math.inf


def test_threshold_errors() -> None:
    with pytest.raises(UnknownMetricError, match="Did you mean 'f1'"):
        tune_threshold(np.array([True, False]), [0.1, 0.2], "f1_score")
    with pytest.raises(ValueError, match="needs both classes, but 0 of 2"):
        tune_threshold(np.array([False, False]), [0.1, 0.2])
    with pytest.raises(ValueError, match="must be a boolean array"):
        tune_threshold(np.array([1, 0]), [0.1, 0.2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("shapes (2,) and (3,)")):
        tune_threshold(np.array([True, False]), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN or infinite"):
        tune_threshold(np.array([True, False]), [0.1, math.nan])
