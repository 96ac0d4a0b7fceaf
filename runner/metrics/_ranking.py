"""ROC AUC and average precision from one sort of the scores.

The scores of the positive rows and of the negative rows are sorted
separately: that is one sort of the scores, partitioned by class, and it
needs no index array, so it costs less than ``np.argsort`` of all of them.
One binary search of the positives among the negatives then gives, for every
positive, the number of negatives below it and of negatives tied with it,
which is all that the two curves depend on.

Ties are handled as scikit-learn does: rows with equal scores share one
threshold, so a positive tied with a negative earns half a pair in ROC AUC,
and the positives of a tied group share the precision at that threshold in
average precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from runner.metrics._common import Bools, Floats

Counts = NDArray[np.intp]


@dataclass(frozen=True)
class Ranked:
    """Sorted scores of positives and negatives and how they interleave."""

    pos: Floats
    neg: Floats
    below: Counts

    @property
    def defined(self) -> bool:
        return bool(self.pos.size and self.neg.size)


def rank(is_pos: Bools, scores: Floats) -> Ranked:
    """Sort the scores of each class once and place positives among negatives.

    Parameters
    ----------
    is_pos : ndarray of bool
        True for the rows of the positive class.
    scores : ndarray of float64
        Score of the positive class for each row; higher means more positive.
    """
    pos = np.sort(scores[is_pos])
    neg = np.sort(scores[~is_pos])
    below = np.searchsorted(neg, pos, side="left")
    return Ranked(pos, neg, below)


def roc_auc(ranked: Ranked) -> float:
    """Tie-aware ROC AUC; both classes must be present."""
    n_pos, n_neg = ranked.pos.size, ranked.neg.size
    # Twice the Mann-Whitney U: 2 per negative below a positive, 1 per tie. It
    # is an exact integer, so the one division below is correctly rounded.
    twice_u = 2 * int(ranked.below.sum(dtype=np.int64)) + _ties(ranked)
    return twice_u / (2 * n_pos * n_neg)


def _ties(ranked: Ranked) -> int:
    """Number of (positive, negative) pairs with equal scores."""
    if not ranked.neg.size:
        return 0
    slots = np.minimum(ranked.below, ranked.neg.size - 1)
    tied = ranked.neg[slots] == ranked.pos
    if not tied.any():
        return 0
    # Only positives whose score occurs among the negatives need the second
    # search; with continuous scores there are few or none.
    keys = ranked.pos[tied]
    upto = np.searchsorted(ranked.neg, keys, side="right")
    return int((upto - ranked.below[tied]).sum(dtype=np.int64))


def average_precision(ranked: Ranked) -> float:
    """Average precision, not interpolated; at least one positive needed.

    At the threshold of a positive's score, the rows at or above it are the
    positives from the start of its tie group on and the negatives not below
    it; each positive adds that precision divided by the number of positives.
    """
    n_pos, n_neg = ranked.pos.size, ranked.neg.size
    pos_above = n_pos - _group_starts(ranked.pos)
    neg_above = n_neg - ranked.below
    return float(np.sum(pos_above / (pos_above + neg_above))) / n_pos


def _group_starts(ordered: Floats) -> Counts:
    """For each element of a sorted array, the index where its run starts."""
    starts = np.empty(ordered.size, dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    index = np.where(starts, np.arange(ordered.size), 0)
    return np.maximum.accumulate(index)


def ovr_curves(true: NDArray[Any], scores: Floats) -> tuple[Floats, Floats]:
    """One-vs-rest ROC AUC and average precision of each column of ``scores``.

    ``true`` holds class codes 0..k-1. A class absent from ``true`` gets nan
    for both; a class that every row has gets nan for ROC AUC.
    """
    k = scores.shape[1]
    aucs, aps = np.full(k, np.nan), np.full(k, np.nan)
    for c in range(k):
        ranked = rank(true == c, scores[:, c])
        if ranked.pos.size:
            aps[c] = average_precision(ranked)
        if ranked.defined:
            aucs[c] = roc_auc(ranked)
    return aucs, aps
