"""ROC AUC and average precision from one sort of the scores.

The scores of the positive rows and of the negative rows are sorted
separately: that is one sort of the scores, partitioned by class, and it
needs no index array, so it costs less than ``np.argsort`` of all of them.
One binary search of the distinct positive scores among the negatives then
gives, for each of them, the number of negatives below it and tied with it,
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
    """How the distinct scores of the positives sit among the negatives.

    Entry ``i`` describes the ``i``-th distinct positive score, lowest first:
    where its run starts among the sorted positive scores, how many positives
    have it, and how many negatives score below it and tie with it.
    """

    n_pos: int
    n_neg: int
    first: Counts
    size: Counts
    below: Counts
    tied: Counts

    @property
    def defined(self) -> bool:
        return bool(self.n_pos and self.n_neg)


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
    first = _run_starts(pos)
    size = np.diff(first, append=pos.size)
    values = pos[first]
    below = np.searchsorted(neg, values, side="left")
    return Ranked(pos.size, neg.size, first, size, below, _tied(neg, values, below))


def _run_starts(ordered: Floats) -> Counts:
    """Index where each run of equal values starts in a sorted array."""
    change = np.empty(ordered.size, dtype=bool)
    change[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    return np.flatnonzero(change)


def _tied(neg: Floats, values: Floats, below: Counts) -> Counts:
    """Number of negatives equal to each value; ``below`` is where it would go."""
    tied = np.zeros_like(below)
    if not neg.size:
        return tied
    hit = neg[np.minimum(below, neg.size - 1)] == values
    if hit.any():
        # Only values that occur among the negatives need the second search;
        # with continuous scores there are few or none.
        upto = np.searchsorted(neg, values[hit], side="right")
        tied[hit] = upto - below[hit]
    return tied


def roc_auc(ranked: Ranked) -> float:
    """Tie-aware ROC AUC; both classes must be present."""
    # Twice the Mann-Whitney U: 2 per negative below a positive, 1 per tie. It
    # is an exact integer, so the one division below is correctly rounded.
    pairs = ranked.size * (2 * ranked.below + ranked.tied)
    twice_u = int(pairs.sum(dtype=np.int64))
    return twice_u / (2 * ranked.n_pos * ranked.n_neg)


def average_precision(ranked: Ranked) -> float:
    """Average precision, not interpolated; at least one positive needed.

    At the threshold of a distinct positive score, the rows at or above it
    are the positives from the start of its run on and the negatives not
    below it; its positives each add that precision over the positive count.
    """
    pos_above = ranked.n_pos - ranked.first
    neg_above = ranked.n_neg - ranked.below
    precision = pos_above / (pos_above + neg_above)
    return float(np.sum(ranked.size * precision)) / ranked.n_pos


def ovr_curves(true: NDArray[Any], scores: Floats) -> tuple[Floats, Floats]:
    """One-vs-rest ROC AUC and average precision of each column of ``scores``.

    ``true`` holds class codes 0..k-1. A class absent from ``true`` gets nan
    for both; a class that every row has gets nan for ROC AUC.
    """
    k = scores.shape[1]
    aucs, aps = np.full(k, np.nan), np.full(k, np.nan)
    for c in range(k):
        ranked = rank(true == c, scores[:, c])
        if ranked.n_pos:
            aps[c] = average_precision(ranked)
        if ranked.defined:
            aucs[c] = roc_auc(ranked)
    return aucs, aps
