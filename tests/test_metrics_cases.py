"""The metric cases of shared/CASES.md (C01-C06, C09, C10, C34, C35).

Each test feeds the case's minimal input to :func:`runner.metrics.evaluate`
and checks the value CASES.md gives, to the digits given there.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from runner.metrics import evaluate, validate_labels, validate_suite

C02_TRUE = ["<=50K", "<=50K", ">50K", "<=50K", ">50K", "<=50K", ">50K", "<=50K"]
C02_PRED = ["<=50K", ">50K", ">50K", "<=50K", "<=50K", "<=50K", ">50K", ">50K"]
C02_CLASSES = ["<=50K", ">50K"]


def approx(value: float, digits: int = 4) -> object:
    """Equal to ``value`` as CASES.md prints it, rounded to ``digits``."""
    return pytest.approx(value, abs=0.5 * 10**-digits)


def causes(result: object) -> dict[str, str]:
    return {w.metric: w.cause for w in result.warnings}  # type: ignore[attr-defined]


def test_c01a_all_negative_is_undefined_not_zero() -> None:
    result = evaluate(
        "binary",
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        classes=[0, 1],
        positive_label=1,
        suite=["precision", "recall", "f1"],
    )
    assert all(math.isnan(v) for v in result.values.values())
    for warning in result.warnings:
        assert warning.cause == "no true and no predicted positives"
        assert warning.setting == "metrics.zero_division"
    assert [w.metric for w in result.warnings] == ["precision", "recall", "f1"]


def test_c01a_configured_fallback_still_warns() -> None:
    result = evaluate(
        "binary",
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        classes=[0, 1],
        positive_label=1,
        suite=["precision", "recall", "f1"],
        zero_division=0.0,
    )
    assert result.values == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert len(result.warnings) == 3
    assert all(w.value == 0.0 for w in result.warnings)


@pytest.mark.parametrize(
    ("zero_division", "macro"),
    [
        pytest.param(0.0, 0.5, id="zero-drags-the-mean"),
        pytest.param(1.0, 0.8333, id="one-lifts-the-mean"),
        pytest.param(math.nan, 0.75, id="nan-averages-defined-classes"),
    ],
)
def test_c01b_class_never_predicted(zero_division: float, macro: float) -> None:
    result = evaluate(
        "multiclass",
        [0, 0, 1, 1, 2, 2],
        [0, 0, 1, 1, 1, 1],
        classes=[0, 1, 2],
        suite=["precision_macro", "precision_per_class"],
        zero_division=zero_division,
    )
    values = result.values
    assert values["precision_macro"] == approx(macro)
    assert (values["precision.0"], values["precision.1"]) == (1.0, 0.5)
    if math.isnan(zero_division):
        assert math.isnan(values["precision.2"])
    else:
        assert values["precision.2"] == zero_division
    found = causes(result)
    assert found["precision.2"] == "class '2' never predicted"
    assert found["precision_macro"].startswith("class '2' never predicted; ")


@pytest.mark.parametrize(
    ("positive", "expected"),
    [
        pytest.param(">50K", (0.5, 0.6667, 0.5714), id="high-income-positive"),
        pytest.param("<=50K", (0.75, 0.6, 0.6667), id="low-income-positive"),
    ],
)
def test_c02_string_positive_label(
    positive: str, expected: tuple[float, float, float]
) -> None:
    result = evaluate(
        "binary",
        C02_TRUE,
        C02_PRED,
        classes=C02_CLASSES,
        positive_label=positive,
        suite=["precision", "recall", "f1", "tp", "fp", "fn"],
    )
    got = (result.values["precision"], result.values["recall"], result.values["f1"])
    assert got == tuple(approx(v) for v in expected)
    if positive == ">50K":
        assert (result.values["tp"], result.values["fp"], result.values["fn"]) == (
            2,
            2,
            1,
        )


def test_c02_missing_positive_label_lists_the_labels() -> None:
    message = re.escape("the classes are ['<=50K', '>50K']. Set dataset.positive_label")
    with pytest.raises(ValueError, match=message):
        validate_labels("binary", C02_CLASSES, None)
    with pytest.raises(ValueError, match=message):
        evaluate("binary", C02_TRUE, C02_PRED, classes=C02_CLASSES)


def test_c02_misspelt_positive_label_gets_a_close_match() -> None:
    with pytest.raises(ValueError, match=re.escape("Did you mean '>50K'?")):
        validate_labels("binary", C02_CLASSES, ">50k")


C03_TRUE = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2]
C03_PRED = [0, 0, 0, 0, 0, 1, 1, 0, 2, 1]


def test_c03_every_averaging_is_reported_by_name() -> None:
    values = evaluate("multiclass", C03_TRUE, C03_PRED, classes=[0, 1, 2]).values
    expected = {
        "accuracy": 0.70,
        "precision_micro": 0.70,
        "recall_micro": 0.70,
        "f1_micro": 0.70,
        "precision_macro": 0.7222,
        "recall_macro": 0.6111,
        "f1_macro": 0.6333,
        "precision_weighted": 0.7667,
        "recall_weighted": 0.70,
        "f1_weighted": 0.7133,
        "f1.0": 0.8333,
        "f1.1": 0.4,
        "f1.2": 0.6667,
        "recall.2": 0.5,
    }
    assert {k: values[k] for k in expected} == {
        k: approx(v) for k, v in expected.items()
    }


def test_c03_binary_averaging_on_multiclass_asks_for_a_choice() -> None:
    with pytest.raises(ValueError, match="Did you mean 'f1_macro' or 'f1_weighted'"):
        validate_suite(["f1"], "multiclass")


def test_c04_roc_auc_with_one_class_is_nan_and_flagged() -> None:
    scores = np.array([0.9, 0.8, 0.3, 0.6])
    result = evaluate(
        "binary",
        [1, 1, 1, 1],
        (scores >= 0.5).astype(int),
        classes=[0, 1],
        positive_label=1,
        scores=scores,
        suite=["roc_auc", "pr_auc"],
    )
    assert math.isnan(result.values["roc_auc"])
    assert result.values["pr_auc"] == 1.0
    assert causes(result) == {"roc_auc": "only one class present in y_true"}


def test_c05_log_loss_uses_every_model_class() -> None:
    proba = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]
    result = evaluate(
        "multiclass",
        [0, 1, 0, 1],
        [0, 1, 0, 1],
        classes=[0, 1, 2],
        scores=proba,
        suite=["log_loss"],
    )
    assert result.values["log_loss"] == approx(0.361830, 6)
    assert result.values["log_loss"] == pytest.approx(
        -np.mean(np.log([0.7, 0.8, 0.6, 0.7]))
    )


def test_c05_binary_log_loss_with_one_class_in_y_true() -> None:
    proba = np.array([[0.2, 0.8], [0.9, 0.1], [0.7, 0.3], [0.4, 0.6]])
    result = evaluate(
        "binary",
        [0, 0, 0, 0],
        [1, 0, 0, 1],
        classes=[0, 1],
        positive_label=1,
        scores=proba[:, 1],
        suite=["log_loss"],
    )
    assert result.values["log_loss"] == approx(0.746941, 6)


C06_TRUE = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
C06_PRED = [1, 1, 1, 0, 0, 1, 0, 1, 0, 0]


@pytest.mark.parametrize(
    ("classes", "table"),
    [
        pytest.param([0, 1], [[3, 1], [2, 4]], id="negative-first"),
        pytest.param([1, 0], [[4, 2], [1, 3]], id="positive-first"),
    ],
)
def test_c06_counts_do_not_depend_on_label_order(
    classes: list[int], table: list[list[int]]
) -> None:
    result = evaluate(
        "binary",
        C06_TRUE,
        C06_PRED,
        classes=classes,
        positive_label=1,
        suite=["tp", "fp", "tn", "fn", "precision", "recall"],
    )
    v = result.values
    assert (v["tp"], v["fp"], v["tn"], v["fn"]) == (4, 1, 3, 2)
    assert (v["precision"], v["recall"]) == (0.8, approx(0.6667))
    assert result.confusion is not None
    assert result.confusion.labels == tuple(classes)
    assert result.confusion.counts.tolist() == table


def test_c06_confusion_csv_names_rows_and_columns() -> None:
    result = evaluate(
        "binary", C06_TRUE, C06_PRED, classes=[1, 0], positive_label=1, suite=["tp"]
    )
    assert result.confusion is not None
    assert result.confusion.to_csv() == "true\\predicted,1,0\n1,4,2\n0,1,3\n"


@pytest.mark.parametrize(
    ("y_true", "y_pred", "rows"),
    [
        pytest.param([5, 5, 5, 5], [4.8, 5.1, 5.0, 5.3], "", id="imperfect"),
        pytest.param([5, 5, 5, 5], [5, 5, 5, 5], "", id="exact"),
        pytest.param([3.0], [2.5], " (a single row)", id="single-sample"),
    ],
)
def test_c09_r2_of_constant_target_is_undefined(
    y_true: list[float], y_pred: list[float], rows: str
) -> None:
    result = evaluate("regression", y_true, y_pred)
    assert math.isnan(result.values["r2"])
    warning = next(w for w in result.warnings if w.metric == "r2")
    assert warning.cause == "constant target in evaluation split" + rows


def test_c09_mae_and_rmse_stay_meaningful() -> None:
    values = evaluate("regression", [5, 5, 5, 5], [4.8, 5.1, 5.0, 5.3]).values
    assert values["mae"] == approx(0.15)
    assert values["rmse"] == approx(0.1871)


def test_c10_mape_with_a_zero_target() -> None:
    result = evaluate(
        "regression",
        [0, 1, 2, 4],
        [0.1, 1.1, 1.8, 4.4],
        suite=["mape", "mape_nonzero", "mae", "wape", "smape"],
    )
    values = result.values
    assert math.isnan(values["mape"])
    assert values["mape_nonzero"] == approx(0.10)
    assert values["mae"] == approx(0.20)
    assert values["wape"] == approx(0.1143)
    assert values["smape"] == approx(0.5739)
    found = causes(result)
    assert found["mape"].startswith("1 of 4 true values are 0")
    assert found["mape_nonzero"] == "1 of 4 rows left out because their true value is 0"


def test_c34_tutorial_confusion_matrix() -> None:
    y_true = [1] * 60 + [0] * 40
    y_pred = [1] * 50 + [0] * 10 + [1] * 5 + [0] * 35
    result = evaluate("binary", y_true, y_pred, classes=[0, 1], positive_label=1)
    v = result.values
    assert (v["tp"], v["fn"], v["fp"], v["tn"]) == (50, 10, 5, 35)
    expected = {
        "accuracy": 0.85,
        "precision": 0.909091,
        "recall": 0.833333,
        "f1": 0.869565,
        "specificity": 0.875,
        "balanced_accuracy": 0.854167,
        "mcc": 0.697518,
    }
    assert {k: v[k] for k in expected} == {k: approx(e, 6) for k, e in expected.items()}
    # Every count metric is recomputable from the logged cells.
    assert v["precision"] == v["tp"] / (v["tp"] + v["fp"])
    assert v["recall"] == v["tp"] / (v["tp"] + v["fn"])
    assert not result.warnings


def test_c35_accuracy_paradox_is_flagged() -> None:
    y_true = np.zeros(1000, dtype=int)
    y_true[:10] = 1
    y_pred = np.zeros(1000, dtype=int)
    y_pred[[0, 500, 501]] = 1  # flags 3, one of them fraud
    result = evaluate("binary", y_true, y_pred, classes=[0, 1], positive_label=1)
    v = result.values
    expected = {
        "accuracy": 0.989,
        "recall": 0.1,
        "precision": 0.333333,
        "balanced_accuracy": 0.548990,
        "mcc": 0.178257,
    }
    assert {k: v[k] for k in expected} == {k: approx(e, 6) for k, e in expected.items()}
    (warning,) = result.warnings
    assert warning.metric == "accuracy"
    assert warning.setting == "metrics.primary"
    assert warning.value == 0.989
    assert "majority-class baseline 0.99" in warning.cause
    assert warning.cause == (
        "accuracy paradox: accuracy 0.989 is not above the majority-class "
        "baseline 0.99 (always predicting '0'), and recall is 0.1; rank models "
        "by recall, balanced_accuracy or mcc instead"
    )
