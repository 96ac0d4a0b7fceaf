"""Every registered metric against scikit-learn, on random and edge-case inputs.

scikit-learn is the oracle. Where the runner deliberately differs (an
ill-defined value is nan or ``zero_division``, never a silent 0; macro
averages of ranking metrics leave out absent classes), the expected value
is built from scikit-learn's per-class results plus that documented rule.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from runner.metrics import REGISTRY, evaluate, safe_key
from runner.metrics._registry import task_metrics

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

TOL = 1e-12
EPS = np.finfo(np.float64).eps
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Label vocabularies: plain codes, shifted integers, and strings that need
# sanitising in keys. Index i is the label of code i.
VOCABULARIES = {
    "codes": [0, 1, 2, 3, 4],
    "signed": [-1, 1, 7, 40, 3],
    "strings": [">50K", "<=50K", "b b", "cat", "dog"],
}


@dataclass
class Inputs:
    """One classification problem as the runner's caller would pass it."""

    task: str
    y_true: list[Any]
    y_pred: list[Any]
    classes: list[Any]
    positive: Any
    scores: np.ndarray
    proba: bool
    zero_division: float

    def run(self, **changes: Any) -> Any:
        args = {
            "classes": self.classes,
            "positive_label": self.positive,
            "scores": self.scores,
            "scores_are_proba": self.proba,
            "suite": task_metrics(self.task),
            "zero_division": self.zero_division,
        }
        args.update(changes)
        y_true = args.pop("y_true", self.y_true)
        y_pred = args.pop("y_pred", self.y_pred)
        return evaluate(self.task, y_true, y_pred, **args)


@st.composite
def codes(draw: st.DrawFn, n: int, k: int) -> list[int]:
    """Class codes, often degenerate: a single class, or a two-class subset."""
    shape = draw(st.sampled_from(["any", "any", "one", "subset"]))
    if shape == "one":
        return [draw(st.integers(0, k - 1))] * n
    top = 1 if shape == "subset" else k - 1
    return draw(st.lists(st.integers(0, top), min_size=n, max_size=n))


def _score_values(proba: bool) -> st.SearchStrategy[float]:
    # A coarse grid makes ties between positives and negatives common.
    grid = [0.0, 0.25, 0.5, 0.75, 1.0] if proba else [-2.0, -0.5, 0.0, 0.5, 3.0]
    lo, hi = (0.0, 1.0) if proba else (-5.0, 5.0)
    return st.one_of(st.sampled_from(grid), st.floats(lo, hi))


@st.composite
def classification(draw: st.DrawFn, task: str) -> Inputs:
    k = 2 if task == "binary" else draw(st.integers(3, 5))
    n = draw(st.integers(1, 30))
    vocabulary = VOCABULARIES[draw(st.sampled_from(sorted(VOCABULARIES)))][:k]
    order = draw(st.permutations(range(k)))
    true = [vocabulary[c] for c in draw(codes(n, k))]
    pred = [vocabulary[c] for c in draw(codes(n, k))]
    proba = draw(st.booleans())
    if task == "binary":
        scores = np.array(draw(st.lists(_score_values(proba), min_size=n, max_size=n)))
    else:
        scores = _matrix(draw, n, k, proba)
    return Inputs(
        task=task,
        y_true=true,
        y_pred=pred,
        classes=[vocabulary[c] for c in order],
        positive=vocabulary[draw(st.integers(0, 1))] if task == "binary" else None,
        scores=scores,
        proba=proba,
        zero_division=draw(st.sampled_from([math.nan, 0.0, 1.0])),
    )


def _matrix(draw: st.DrawFn, n: int, k: int, proba: bool) -> np.ndarray:
    """(n, k) scores aligned with the given class order."""
    cells = st.integers(0, 3) if proba else st.integers(-3, 3)
    rows = draw(
        st.lists(st.lists(cells, min_size=k, max_size=k), min_size=n, max_size=n)
    )
    matrix = np.array(rows, dtype=np.float64)
    if not proba:
        return matrix / 2
    matrix[:, 0] += 1  # no all-zero row
    return matrix / matrix.sum(axis=1, keepdims=True)


def _sorted_columns(inputs: Inputs) -> tuple[list[Any], np.ndarray]:
    """Classes in sorted order and the score columns to match, for functions
    (log_loss, brier_score_loss) that assume sorted labels."""
    order = sorted(range(len(inputs.classes)), key=lambda i: inputs.classes[i])
    return [inputs.classes[i] for i in order], inputs.scores[:, order]


def _single(values: list[Any]) -> bool:
    return len(set(values)) < 2


def _ratio(inputs: Inputs, label: Any, which: int) -> float:
    out = skm.precision_recall_fscore_support(
        inputs.y_true,
        inputs.y_pred,
        labels=[label],
        average=None,
        zero_division=inputs.zero_division,
    )
    return float(out[which][0])


def oracle_binary(inputs: Inputs) -> dict[str, float]:
    yt, yp, s, pos = inputs.y_true, inputs.y_pred, inputs.scores, inputs.positive
    neg = next(c for c in inputs.classes if c != pos)
    is_pos = np.array([y == pos for y in yt])
    tn, fp, fn, tp = skm.confusion_matrix(yt, yp, labels=[neg, pos]).ravel()
    out = {
        "accuracy": skm.accuracy_score(yt, yp),
        "precision": _ratio(inputs, pos, 0),
        "recall": _ratio(inputs, pos, 1),
        "f1": _ratio(inputs, pos, 2),
        "specificity": _ratio(inputs, neg, 1),
        "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
        "mcc": _mcc(inputs),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "roc_auc": skm.roc_auc_score(is_pos, s) if not _single(yt) else math.nan,
        "pr_auc": skm.average_precision_score(is_pos, s) if is_pos.any() else math.nan,
    }
    if inputs.proba:
        labels = sorted(inputs.classes)
        two = np.column_stack([s if c == pos else 1 - s for c in labels])
        out["log_loss"] = skm.log_loss(yt, two, labels=labels)
        out["brier"] = skm.brier_score_loss(yt, s, pos_label=pos)
    return out


def _mcc(inputs: Inputs) -> float:
    # scikit-learn returns 0.0 when MCC is 0/0; the runner logs zero_division.
    if _single(inputs.y_true) or _single(inputs.y_pred):
        return inputs.zero_division
    return skm.matthews_corrcoef(inputs.y_true, inputs.y_pred)


def oracle_multiclass(inputs: Inputs) -> dict[str, float]:
    yt, yp, labels, zd = (
        inputs.y_true,
        inputs.y_pred,
        inputs.classes,
        inputs.zero_division,
    )
    out = {
        "accuracy": skm.accuracy_score(yt, yp),
        "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
        "mcc": _mcc(inputs),
    }
    funcs = {"precision": skm.precision_score, "recall": skm.recall_score}
    funcs["f1"] = skm.f1_score
    for stat, func in funcs.items():
        for average in ("macro", "weighted", "micro"):
            out[f"{stat}_{average}"] = func(
                yt, yp, labels=labels, average=average, zero_division=zd
            )
    per_class = skm.precision_recall_fscore_support(
        yt, yp, labels=labels, average=None, zero_division=zd
    )
    for stat, values in zip(
        ("precision", "recall", "f1", "support"), per_class, strict=True
    ):
        for label, value in zip(labels, values, strict=True):
            out[f"{stat}.{safe_key(label)}"] = float(value)
    out.update(_ovr(inputs))
    if inputs.proba:
        ordered, matrix = _sorted_columns(inputs)
        out["log_loss"] = skm.log_loss(yt, matrix, labels=ordered)
        out["brier"] = skm.brier_score_loss(yt, matrix, labels=ordered)
    return out


def _ovr(inputs: Inputs) -> dict[str, float]:
    """Macro one-vs-rest ROC AUC and AP over the classes present in y_true."""
    aucs, aps = [], []
    for j, label in enumerate(inputs.classes):
        is_c = np.array([y == label for y in inputs.y_true])
        if is_c.any():
            aps.append(skm.average_precision_score(is_c, inputs.scores[:, j]))
        if is_c.any() and not is_c.all():
            aucs.append(skm.roc_auc_score(is_c, inputs.scores[:, j]))
    out = {"pr_auc_macro": float(np.mean(aps))}
    out["roc_auc_ovr"] = float(np.mean(aucs)) if aucs else math.nan
    present = set(inputs.y_true)
    if inputs.proba and len(present) == len(inputs.classes) >= 3:
        # All classes present: scikit-learn's own multiclass call must agree.
        ordered, matrix = _sorted_columns(inputs)
        whole = skm.roc_auc_score(
            inputs.y_true, matrix, multi_class="ovr", labels=ordered
        )
        assert math.isclose(whole, out["roc_auc_ovr"], rel_tol=TOL, abs_tol=TOL)
    return out


def oracle(inputs: Inputs) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if inputs.task == "binary":
            return oracle_binary(inputs)
        return oracle_multiclass(inputs)


def assert_same(ours: dict[str, float], expected: dict[str, float]) -> None:
    assert set(ours) == set(expected), sorted(set(ours) ^ set(expected))
    for key, value in expected.items():
        got, want = ours[key], float(value)
        if math.isnan(want):
            assert math.isnan(got), (key, got)
        else:
            assert math.isclose(got, want, rel_tol=TOL, abs_tol=TOL), (key, got, want)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@SETTINGS
@given(data=st.data())
def test_classification_matches_sklearn(task: str, data: st.DataObject) -> None:
    inputs = data.draw(classification(task))
    result = inputs.run()
    assert_same(result.values, oracle(inputs))
    skipped = {w.metric for w in result.warnings if "skipped" in w.cause}
    assert skipped == (set() if inputs.proba else {"log_loss", "brier"})


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@SETTINGS
@given(data=st.data())
def test_fallbacks_always_warn(task: str, data: st.DataObject) -> None:
    """Every nan and every zero_division fallback comes with a warning."""
    inputs = data.draw(classification(task))
    result = inputs.run(zero_division=math.nan)
    warned = {w.metric for w in result.warnings}
    for key, value in result.values.items():
        if math.isnan(value):
            assert key in warned, key
    for warning in result.warnings:
        assert warning.setting.startswith("metrics.")
        assert warning.cause


def _relabelled(inputs: Inputs) -> tuple[Inputs, dict[Any, Any]]:
    """The same problem with new labels and the class order reversed."""
    mapping = {c: f"L{i}:{c}" for i, c in enumerate(inputs.classes)}
    order = list(reversed(range(len(inputs.classes))))
    scores = inputs.scores if inputs.task == "binary" else inputs.scores[:, order]
    renamed = Inputs(
        inputs.task,
        [mapping[y] for y in inputs.y_true],
        [mapping[y] for y in inputs.y_pred],
        [mapping[inputs.classes[i]] for i in order],
        mapping.get(inputs.positive),
        scores,
        inputs.proba,
        inputs.zero_division,
    )
    return renamed, mapping


def _rekeyed(values: dict[str, float], mapping: dict[Any, Any]) -> dict[str, float]:
    keys = {safe_key(new): safe_key(old) for old, new in mapping.items()}
    out = {}
    for key, value in values.items():
        stat, dot, label = key.partition(".")
        out[f"{stat}.{keys[label]}" if dot else key] = value
    return out


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@SETTINGS
@given(data=st.data())
def test_invariances(task: str, data: st.DataObject) -> None:
    """Row order, label values, class order and list vs array do not matter."""
    inputs = data.draw(classification(task))
    base = inputs.run().values
    perm = data.draw(st.permutations(range(len(inputs.y_true))))
    shuffled = inputs.run(
        y_true=[inputs.y_true[i] for i in perm],
        y_pred=[inputs.y_pred[i] for i in perm],
        scores=inputs.scores[list(perm)],
    )
    assert_same(shuffled.values, base)
    renamed, mapping = _relabelled(inputs)
    assert_same(_rekeyed(renamed.run().values, mapping), base)
    arrays = inputs.run(
        y_true=np.array(inputs.y_true, dtype=object),
        y_pred=np.asarray(inputs.y_pred),
        classes=np.asarray(inputs.classes),
        scores=inputs.scores.tolist(),
    )
    assert_same(arrays.values, base)


def test_oracles_cover_the_whole_registry() -> None:
    """A new metric fails here until it has an oracle."""
    covered = set()
    binary = Inputs(
        "binary",
        [0, 1, 1, 0],
        [0, 1, 0, 0],
        [0, 1],
        1,
        np.array([0.2, 0.9, 0.4, 0.1]),
        True,
        math.nan,
    )
    covered |= set(oracle(binary))
    multi = Inputs(
        "multiclass",
        [0, 1, 2, 2],
        [0, 2, 2, 1],
        [0, 1, 2],
        None,
        np.full((4, 3), 1 / 3),
        True,
        math.nan,
    )
    covered |= {key.split(".")[0] for key in oracle(multi)}
    covered |= set(REGRESSION_ORACLES)
    names = {d.key_prefix if d.per_class else d.name for d in REGISTRY.values()}
    assert covered == names


# --- regression --------------------------------------------------------------


def _mape_or_nan(yt: np.ndarray, yp: np.ndarray) -> float:
    if (np.abs(yt) < EPS).any():
        return math.nan
    return skm.mean_absolute_percentage_error(yt, yp)


def _r2_or_nan(yt: np.ndarray, yp: np.ndarray) -> float:
    return math.nan if yt.min() == yt.max() else skm.r2_score(yt, yp)


def _wape(yt: np.ndarray, yp: np.ndarray) -> float:
    total = math.fsum(abs(v) for v in yt)
    return (
        math.fsum(abs(a - b) for a, b in zip(yt, yp, strict=True)) / total
        if total
        else math.nan
    )


def _smape(yt: np.ndarray, yp: np.ndarray) -> float:
    terms = [
        2 * abs(a - b) / (abs(a) + abs(b)) if abs(a) + abs(b) else 0.0
        for a, b in zip(yt, yp, strict=True)
    ]
    return math.fsum(terms) / len(terms)


def _mape_nonzero(yt: np.ndarray, yp: np.ndarray) -> float:
    terms = [abs(a - b) / abs(a) for a, b in zip(yt, yp, strict=True) if abs(a) >= EPS]
    return math.fsum(terms) / len(terms) if terms else math.nan


REGRESSION_ORACLES = {
    "mae": skm.mean_absolute_error,
    "rmse": skm.root_mean_squared_error,
    "r2": _r2_or_nan,
    "median_ae": skm.median_absolute_error,
    "max_error": skm.max_error,
    "wape": _wape,
    "smape": _smape,
    "mape": _mape_or_nan,
    "mape_nonzero": _mape_nonzero,
}

_numbers = st.one_of(
    st.integers(-3, 3).map(float),
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
)


@st.composite
def regression(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    n = draw(st.integers(1, 30))
    y_true = draw(st.lists(_numbers, min_size=n, max_size=n))
    if draw(st.booleans()):
        y_true = [y_true[0]] * n  # constant target
    y_pred = draw(st.lists(_numbers, min_size=n, max_size=n))
    return y_true, y_pred


@SETTINGS
@given(pair=regression())
def test_regression_matches_sklearn(pair: tuple[list[float], list[float]]) -> None:
    y_true, y_pred = pair
    result = evaluate("regression", y_true, y_pred, suite=task_metrics("regression"))
    yt, yp = np.array(y_true), np.array(y_pred)
    expected = {name: func(yt, yp) for name, func in REGRESSION_ORACLES.items()}
    assert_same(result.values, expected)
    for key, value in result.values.items():
        if math.isnan(value):
            assert key in {w.metric for w in result.warnings}


@SETTINGS
@given(pair=regression(), data=st.data())
def test_regression_invariances(
    pair: tuple[list[float], list[float]], data: st.DataObject
) -> None:
    y_true, y_pred = pair
    suite = task_metrics("regression")
    base = evaluate("regression", y_true, y_pred, suite=suite).values
    perm = data.draw(st.permutations(range(len(y_true))))
    shuffled = evaluate(
        "regression",
        np.array(y_true)[list(perm)],
        np.array(y_pred)[list(perm)],
        suite=suite,
    )
    assert_same(shuffled.values, base)


@pytest.mark.parametrize("k", [2, 4])
def test_medium_multiclass_with_heavy_ties(k: int) -> None:
    """Thousands of rows, scores rounded to 2 decimals: the sort paths at size."""
    rng = np.random.default_rng(k)
    n = 5000
    y_true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y_true] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, 2)
    proba /= proba.sum(axis=1, keepdims=True)
    inputs = Inputs(
        "multiclass",
        y_true.tolist(),
        proba.argmax(axis=1).tolist(),
        list(range(k)),
        None,
        proba,
        True,
        math.nan,
    )
    assert_same(inputs.run().values, oracle(inputs))


def test_medium_binary_with_heavy_ties() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    y_true = rng.random(n) < 0.2
    scores = np.round(np.clip(0.3 * y_true + rng.random(n) * 0.7, 0, 1), 2)
    inputs = Inputs(
        "binary",
        y_true.tolist(),
        (scores >= 0.5).tolist(),
        [False, True],
        True,
        scores,
        True,
        0.0,
    )
    assert_same(inputs.run().values, oracle(inputs))
