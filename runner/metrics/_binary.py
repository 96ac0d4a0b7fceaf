"""Binary classification metrics, all from one 2x2 table and one sort."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from runner.metrics import _proba, _ranking
from runner.metrics._common import (
    Bools,
    Floats,
    Value,
    accuracy_value,
    mcc_value,
    ratio,
    suite_caveat,
)
from runner.metrics._labels import ClassSpec
from runner.metrics._types import ConfusionTable

_NEITHER = "no true and no predicted positives"


@dataclass(frozen=True)
class Counts:
    """The four cells of the binary confusion matrix."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def pos(self) -> int:
        return self.tp + self.fn

    @property
    def neg(self) -> int:
        return self.tn + self.fp

    @property
    def n(self) -> int:
        return self.pos + self.neg


def count(is_pos_true: Bools, is_pos_pred: Bools) -> Counts:
    """Count TP, FP, TN, FN in one ``np.bincount`` pass.

    Each row is coded by two bits taken from boolean masks against the
    positive label, truth then prediction, so the cell a count lands in never
    depends on how the classes happen to be ordered.
    """
    code = np.left_shift(is_pos_true.view(np.uint8), 1) | is_pos_pred.view(np.uint8)
    tn, fp, fn, tp = np.bincount(code, minlength=4).tolist()
    return Counts(tp=tp, fp=fp, tn=tn, fn=fn)


@dataclass
class BinaryData:
    """Validated inputs of a binary evaluation, with lazily shared work."""

    spec: ClassSpec
    is_pos_true: Bools
    is_pos_pred: Bools
    scores: Floats | None
    proba: bool
    zero_division: float

    @cached_property
    def counts(self) -> Counts:
        return count(self.is_pos_true, self.is_pos_pred)

    @cached_property
    def ranked(self) -> _ranking.Ranked:
        assert self.scores is not None
        return _ranking.rank(self.is_pos_true, self.scores)

    @property
    def positive(self) -> object:
        assert self.spec.positive is not None
        return self.spec.items[self.spec.positive]

    @property
    def negative(self) -> object:
        assert self.spec.positive is not None
        return self.spec.items[1 - self.spec.positive]

    def confusion(self) -> ConfusionTable:
        """The 2x2 table in the order of ``classes`` (rows = true)."""
        c, i = self.counts, self.spec.positive
        assert i is not None
        cells = np.empty((2, 2), dtype=np.int64)
        cells[i, i], cells[i, 1 - i] = c.tp, c.fn
        cells[1 - i, i], cells[1 - i, 1 - i] = c.fp, c.tn
        return ConfusionTable(self.spec.items, cells)


def _accuracy(d: BinaryData) -> list[Value]:
    c = d.counts
    label = d.positive if c.pos > c.neg else d.negative
    note = f", and recall is {c.tp / c.pos:.3g}" if c.pos else ""
    return [accuracy_value(c.tp + c.tn, c.n, max(c.pos, c.neg), label, note)]


def _precision(d: BinaryData) -> list[Value]:
    c = d.counts
    cause = _NEITHER if not c.pos else "no predicted positives"
    return [ratio("precision", c.tp, c.tp + c.fp, d.zero_division, cause)]


def _recall(d: BinaryData) -> list[Value]:
    c = d.counts
    cause = _NEITHER if not c.tp + c.fp else "no positive rows in y_true"
    return [ratio("recall", c.tp, c.pos, d.zero_division, cause)]


def _f1(d: BinaryData) -> list[Value]:
    c = d.counts
    return [ratio("f1", 2 * c.tp, 2 * c.tp + c.fp + c.fn, d.zero_division, _NEITHER)]


def _specificity(d: BinaryData) -> list[Value]:
    c = d.counts
    cause = "no negative rows in y_true"
    return [ratio("specificity", c.tn, c.neg, d.zero_division, cause)]


def _balanced_accuracy(d: BinaryData) -> list[Value]:
    c = d.counts
    # Like scikit-learn: the mean recall of the classes present in y_true.
    if c.pos and c.neg:
        return [Value("balanced_accuracy", (c.tp / c.pos + c.tn / c.neg) / 2)]
    if c.pos:
        cause = "no negative rows in y_true; the value is the recall alone"
        return [suite_caveat("balanced_accuracy", c.tp / c.pos, cause)]
    cause = "no positive rows in y_true; the value is the specificity alone"
    return [suite_caveat("balanced_accuracy", c.tn / c.neg, cause)]


def _mcc(d: BinaryData) -> list[Value]:
    c = d.counts
    t, p = (c.neg, c.pos), (c.tn + c.fn, c.tp + c.fp)
    return [mcc_value(t, p, c.tp + c.tn, d.zero_division)]


def _cell(name: str) -> Callable[[BinaryData], list[Value]]:
    """Compute function logging one cell (tp, fp, tn or fn) as a float."""

    def compute(d: BinaryData) -> list[Value]:
        return [Value(name, float(getattr(d.counts, name)))]

    return compute


def _roc_auc(d: BinaryData) -> list[Value]:
    ranked = d.ranked
    if ranked.defined:
        return [Value("roc_auc", _ranking.roc_auc(ranked))]
    cause = "only one class present in y_true"
    return [suite_caveat("roc_auc", float("nan"), cause)]


def _pr_auc(d: BinaryData) -> list[Value]:
    ranked = d.ranked
    if ranked.n_pos:
        return [Value("pr_auc", _ranking.average_precision(ranked))]
    cause = "no positive rows in y_true"
    return [suite_caveat("pr_auc", float("nan"), cause)]


def _log_loss(d: BinaryData) -> list[Value]:
    assert d.scores is not None
    return [Value("log_loss", _proba.binary_log_loss(d.is_pos_true, d.scores))]


def _brier(d: BinaryData) -> list[Value]:
    assert d.scores is not None
    return [Value("brier", _proba.binary_brier(d.is_pos_true, d.scores))]


BINARY: dict[str, Callable[[BinaryData], list[Value]]] = {
    "accuracy": _accuracy,
    "precision": _precision,
    "recall": _recall,
    "f1": _f1,
    "specificity": _specificity,
    "balanced_accuracy": _balanced_accuracy,
    "mcc": _mcc,
    "tp": _cell("tp"),
    "fp": _cell("fp"),
    "tn": _cell("tn"),
    "fn": _cell("fn"),
    "roc_auc": _roc_auc,
    "pr_auc": _pr_auc,
    "log_loss": _log_loss,
    "brier": _brier,
}
