"""Multiclass metrics, all from one k x k confusion matrix and one sort."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from runner.metrics import _proba, _ranking
from runner.metrics._common import (
    Bools,
    Floats,
    Value,
    accuracy_value,
    class_phrase,
    left_out,
    mcc_value,
    per_class_ratio,
    suite_caveat,
)
from runner.metrics._labels import ClassSpec, Codes
from runner.metrics._types import ConfusionTable

Ints = NDArray[np.int64]
Compute = Callable[["MulticlassData"], list[Value]]


def confusion_counts(true: Codes, pred: Codes, k: int) -> Ints:
    """k x k counts (rows = true code, columns = predicted) in one bincount."""
    flat = np.multiply(true, k, dtype=np.intp)
    flat += pred
    return np.bincount(flat, minlength=k * k).reshape(k, k).astype(np.int64)


@dataclass(frozen=True)
class Stats:
    """Per-class sums of the confusion matrix."""

    tp: Ints
    true: Ints
    pred: Ints

    @property
    def n(self) -> int:
        return int(self.true.sum())


@dataclass(frozen=True)
class Ratio:
    """A per-class ratio, where it is 0/0 and why, for one statistic."""

    stat: str
    values: Floats
    undefined: Bools
    reason: str


_RATIOS: dict[str, Callable[[Stats], tuple[Ints, Ints]]] = {
    "precision": lambda s: (s.tp, s.pred),
    "recall": lambda s: (s.tp, s.true),
    "f1": lambda s: (2 * s.tp, s.true + s.pred),
}
_REASONS = {
    "precision": "never predicted",
    "recall": "absent from y_true",
    "f1": "neither in y_true nor predicted",
}


@dataclass
class MulticlassData:
    """Validated inputs of a multiclass evaluation, with lazily shared work."""

    spec: ClassSpec
    true: Codes
    pred: Codes
    scores: Floats | None
    proba: bool
    zero_division: float

    @cached_property
    def matrix(self) -> Ints:
        return confusion_counts(self.true, self.pred, self.spec.k)

    @cached_property
    def stats(self) -> Stats:
        m = self.matrix
        return Stats(np.diagonal(m).copy(), m.sum(axis=1), m.sum(axis=0))

    @cached_property
    def ovr(self) -> tuple[Floats, Floats]:
        assert self.scores is not None
        return _ranking.ovr_curves(self.true, self.scores)

    @cached_property
    def p_true(self) -> Floats:
        assert self.scores is not None
        return _proba.true_class_proba(self.true, self.scores)

    def ratio(self, stat: str) -> Ratio:
        """Per-class precision, recall or F1 with its 0/0 classes."""
        s = self.stats
        num, den = _RATIOS[stat](s)
        return Ratio(stat, per_class_ratio(num, den), den == 0, _REASONS[stat])

    def labels(self, mask: Bools) -> list[object]:
        return [self.spec.items[i] for i in np.flatnonzero(mask)]

    def confusion(self) -> ConfusionTable:
        return ConfusionTable(self.spec.items, self.matrix)


def _accuracy(d: MulticlassData) -> list[Value]:
    s = d.stats
    majority = int(np.argmax(s.true))
    label = d.spec.items[majority]
    return [accuracy_value(int(s.tp.sum()), s.n, int(s.true[majority]), label)]


def _balanced_accuracy(d: MulticlassData) -> list[Value]:
    r = d.ratio("recall")
    value = float(np.mean(r.values[~r.undefined]))
    if not r.undefined.any():
        return [Value("balanced_accuracy", value)]
    return [suite_caveat("balanced_accuracy", value, _absent(d, r.undefined))]


def _absent(d: MulticlassData, mask: Bools) -> str:
    return f"{class_phrase(d.labels(mask))} absent from y_true; left out of the mean"


def _mcc(d: MulticlassData) -> list[Value]:
    s = d.stats
    return [
        mcc_value(s.true.tolist(), s.pred.tolist(), int(s.tp.sum()), d.zero_division)
    ]


def _filled(r: Ratio, zero_division: float) -> Floats:
    return np.where(r.undefined, zero_division, r.values)


def _macro(stat: str) -> Compute:
    def compute(d: MulticlassData) -> list[Value]:
        r, zd = d.ratio(stat), d.zero_division
        filled = _filled(r, zd)
        kept = filled[~np.isnan(filled)]
        value = float(np.mean(kept)) if kept.size else math.nan
        return [_with_cause(d, r, f"{stat}_macro", value, r.undefined)]

    return compute


def _weighted(stat: str) -> Compute:
    def compute(d: MulticlassData) -> list[Value]:
        r, weights = d.ratio(stat), d.stats.true
        filled = _filled(r, d.zero_division)
        keep = ~np.isnan(filled)
        kept, w = filled[keep], weights[keep]
        # As scikit-learn: if only zero-support classes are left, their mean.
        value = float(np.average(kept, weights=w if w.sum() else None))
        if not kept.size:
            value = math.nan
        # A 0/0 class with zero support has weight 0: it changes nothing.
        return [
            _with_cause(d, r, f"{stat}_weighted", value, r.undefined & (weights > 0))
        ]

    return compute


def _with_cause(
    d: MulticlassData, r: Ratio, key: str, value: float, mask: Bools
) -> Value:
    if not mask.any():
        return Value(key, value)
    phrase = class_phrase(d.labels(mask))
    return Value(key, value, f"{phrase} {r.reason}; {left_out(d.zero_division)}")


def _micro(stat: str) -> Compute:
    def compute(d: MulticlassData) -> list[Value]:
        # Every label is a class, so summed TP over summed predictions (or
        # true rows) is simply the accuracy, for precision, recall and F1.
        s = d.stats
        return [Value(f"{stat}_micro", int(s.tp.sum()) / s.n)]

    return compute


def _per_class(stat: str) -> Compute:
    def compute(d: MulticlassData) -> list[Value]:
        r, zd = d.ratio(stat), d.zero_division
        out = []
        for i, key in enumerate(d.spec.keys):
            name = f"{stat}.{key}"
            if r.undefined[i]:
                cause = f"class '{d.spec.items[i]}' {r.reason}"
                out.append(Value(name, zd, cause))
            else:
                out.append(Value(name, float(r.values[i])))
        return out

    return compute


def _support(d: MulticlassData) -> list[Value]:
    true = d.stats.true.tolist()
    return [
        Value(f"support.{key}", float(n))
        for key, n in zip(d.spec.keys, true, strict=True)
    ]


def _ovr_mean(d: MulticlassData, key: str, values: Floats) -> list[Value]:
    present = d.stats.true > 0
    if present.sum() < 2 and key == "roc_auc_ovr":
        return [suite_caveat(key, math.nan, "only one class present in y_true")]
    value = float(np.mean(values[present]))
    if present.all():
        return [Value(key, value)]
    return [suite_caveat(key, value, _absent(d, ~present))]


def _roc_auc_ovr(d: MulticlassData) -> list[Value]:
    return _ovr_mean(d, "roc_auc_ovr", d.ovr[0])


def _pr_auc_macro(d: MulticlassData) -> list[Value]:
    return _ovr_mean(d, "pr_auc_macro", d.ovr[1])


def _log_loss(d: MulticlassData) -> list[Value]:
    return _row_sum_caveat(d, Value("log_loss", _proba.log_loss_of(d.p_true)))


def _brier(d: MulticlassData) -> list[Value]:
    assert d.scores is not None
    value = Value("brier", _proba.multiclass_brier(d.p_true, d.scores))
    return _row_sum_caveat(d, value)


def _row_sum_caveat(d: MulticlassData, value: Value) -> list[Value]:
    assert d.scores is not None
    gap = _proba.row_sum_gap(d.scores)
    # The same tolerance as scikit-learn's check (sqrt of float64 epsilon).
    if gap <= math.sqrt(_proba.EPS):
        return [value]
    cause = f"probability rows do not sum to 1 (largest gap {gap:.3g})"
    return [suite_caveat(value.key, value.value, cause)]


def _family(stat: str) -> dict[str, Compute]:
    return {
        f"{stat}_macro": _macro(stat),
        f"{stat}_weighted": _weighted(stat),
        f"{stat}_micro": _micro(stat),
        f"{stat}_per_class": _per_class(stat),
    }


MULTICLASS: dict[str, Compute] = {
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "mcc": _mcc,
    **_family("precision"),
    **_family("recall"),
    **_family("f1"),
    "support_per_class": _support,
    "roc_auc_ovr": _roc_auc_ovr,
    "pr_auc_macro": _pr_auc_macro,
    "log_loss": _log_loss,
    "brier": _brier,
}
