"""Log loss and Brier score from predicted probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from runner.metrics._common import Bools, Floats

#: Probabilities are clipped to [EPS, 1 - EPS] before the log, as scikit-learn
#: does for float64, so a confident mistake costs ~36 nats instead of inf.
EPS = float(np.finfo(np.float64).eps)


def log_loss_of(p_true: Floats) -> float:
    """Mean negative log of the probability given to each row's true class."""
    return float(-np.mean(np.log(np.clip(p_true, EPS, 1 - EPS))))


def binary_log_loss(is_pos: Bools, proba: Floats) -> float:
    """Log loss when ``proba`` is the probability of the positive class."""
    return log_loss_of(np.where(is_pos, proba, 1 - proba))


def binary_brier(is_pos: Bools, proba: Floats) -> float:
    """Mean squared error of the positive-class probability against 0/1."""
    return float(np.mean(np.square(proba - is_pos)))


def true_class_proba(true: NDArray[Any], proba: Floats) -> Floats:
    """``proba[i, true[i]]`` for every row."""
    picked: Floats = proba[np.arange(true.size), true]
    return picked


def multiclass_brier(p_true: Floats, proba: Floats) -> float:
    """Mean over rows of sum_c (p_c - [y = c])^2, halved for two classes.

    Computed as (sum_c p_c^2 - p_y^2) + (1 - p_y)^2 so the (n, k) matrix is
    read once and never copied.
    """
    squares = np.einsum("ij,ij->i", proba, proba)
    others = np.maximum(squares - p_true * p_true, 0.0)
    score = float(np.mean(others + np.square(1 - p_true)))
    return score / 2 if proba.shape[1] == 2 else score


def row_sum_gap(proba: Floats) -> float:
    """Largest distance of a row sum from 1."""
    return float(np.max(np.abs(proba.sum(axis=1) - 1)))
