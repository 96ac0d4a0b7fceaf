"""The public surface of runner.metrics: registry, suites, keys, errors."""

from __future__ import annotations

import doctest
import json
import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runner.metrics as metrics
from runner.metrics import (
    REGISTRY,
    MetricWarning,
    UnknownMetricError,
    default_suite,
    evaluate,
    safe_key,
    suite_fingerprint,
    validate_labels,
    validate_suite,
)
from runner.metrics import _registry as registry_module

REPO = Path(__file__).resolve().parents[1]

BINARY_SUITE = [
    "accuracy", "precision", "recall", "f1", "specificity", "balanced_accuracy",
    "mcc", "tp", "fp", "tn", "fn", "roc_auc", "pr_auc", "log_loss", "brier",
]  # fmt: skip
MULTICLASS_SUITE = [
    "accuracy", "balanced_accuracy", "mcc", "precision_macro", "recall_macro",
    "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted",
    "precision_micro", "recall_micro", "f1_micro", "precision_per_class",
    "recall_per_class", "f1_per_class", "support_per_class", "roc_auc_ovr",
    "pr_auc_macro", "log_loss", "brier",
]  # fmt: skip
REGRESSION_SUITE = [
    "mae", "rmse", "r2", "median_ae", "max_error", "wape", "smape", "mape",
]  # fmt: skip


def binary(**changes: Any) -> Any:
    args: dict[str, Any] = {"classes": [0, 1], "positive_label": 1}
    args.update(changes)
    y_true = args.pop("y_true", [0, 1, 1, 0])
    y_pred = args.pop("y_pred", [0, 1, 0, 0])
    return evaluate("binary", y_true, y_pred, **args)


# --- public surface ------------------------------------------------------------


def test_all_is_exactly_the_public_names() -> None:
    public = {n for n in vars(metrics) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(metrics, n)).__name__ == "module"}
    assert len(set(metrics.__all__)) == len(metrics.__all__)
    assert set(metrics.__all__) == public - modules


def test_import_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import sys, runner.metrics; "
        "print([m for m in ('matplotlib', 'pandas', 'mlflow', 'sklearn', 'scipy')"
        " if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "module",
    ["_keys", "_registry", "_threshold", "_evaluate"],
)
def test_docstring_examples_run(module: str) -> None:
    mod = __import__(f"runner.metrics.{module}", fromlist=["_"])
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# --- registry and suites -------------------------------------------------------


def test_registry_entries_are_complete() -> None:
    for name, definition in REGISTRY.items():
        assert definition.name == name
        assert definition.direction in {"maximize", "minimize", "none"}
        assert definition.needs in {"labels", "scores", "proba"}
        assert definition.tasks <= {"binary", "multiclass", "regression"}
        assert len(definition.definition) > 15, name
        assert safe_key(name) == name


def test_directions_follow_the_documented_rule() -> None:
    lower_is_better = {
        "fp", "fn", "log_loss", "brier", "mae", "rmse", "median_ae",
        "max_error", "wape", "smape", "mape", "mape_nonzero",
    }  # fmt: skip
    for name, definition in REGISTRY.items():
        if name == "support_per_class":
            assert definition.direction == "none"
        elif name in lower_is_better:
            assert definition.direction == "minimize", name
        else:
            assert definition.direction == "maximize", name


@pytest.mark.parametrize(
    ("task", "suite"),
    [
        ("binary", BINARY_SUITE),
        ("multiclass", MULTICLASS_SUITE),
        ("regression", REGRESSION_SUITE),
    ],
)
def test_default_suites(task: str, suite: list[str]) -> None:
    assert default_suite(task) == suite
    validate_suite(suite, task)
    no_proba = default_suite(task, has_proba=False)
    assert no_proba == [n for n in suite if n not in {"log_loss", "brier"}]


def test_multiclass_default_keys() -> None:
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    result = evaluate(
        "multiclass", ["a", "b>", "c"], ["a", "b>", "a"],
        classes=["a", "b>", "c"], scores=proba,
    )  # fmt: skip
    per_class = [
        f"{stat}.{label}"
        for stat in ("precision", "recall", "f1", "support")
        for label in ("a", "bgt", "c")
    ]
    expected = [n for n in MULTICLASS_SUITE if not n.endswith("_per_class")]
    assert set(result.values) == set(expected) | set(per_class)


@pytest.mark.parametrize(
    ("name", "task", "hint"),
    [
        pytest.param("f1_scor", "binary", "Did you mean 'f1'?", id="typo"),
        pytest.param("roc_auc_score", "binary", "Did you mean 'roc_auc'", id="sklearn"),
        pytest.param("mean_absolute_error", "regression", "'mae'", id="sklearn-long"),
        pytest.param("neg_log_loss", "multiclass", "'log_loss'", id="scorer-name"),
    ],
)
def test_unknown_metric_suggests_close_matches(name: str, task: str, hint: str) -> None:
    with pytest.raises(UnknownMetricError, match=re.escape(hint)) as info:
        validate_suite([name], task)
    message = str(info.value)
    assert message.startswith(f"unknown metric {name!r} for task '{task}'.")
    assert "Fix the name in metrics.suite; valid names: " in message
    assert isinstance(info.value, ValueError)


def test_metric_of_another_task_is_rejected() -> None:
    with pytest.raises(
        ValueError, match="metric 'rmse' does not apply to task 'binary'"
    ):
        validate_suite(["accuracy", "rmse"], "binary")
    with pytest.raises(ValueError, match=re.escape("Did you mean 'f1'?")):
        validate_suite(["f1_macro"], "binary")


def test_proba_metric_without_predict_proba_is_rejected_early() -> None:
    with pytest.raises(ValueError, match="'log_loss' needs predicted probabilities"):
        validate_suite(["accuracy", "log_loss"], "binary", has_proba=False)
    validate_suite(["accuracy", "roc_auc"], "binary", has_proba=False)


def test_suite_must_be_a_list_of_names() -> None:
    with pytest.raises(ValueError, match=re.escape("metrics.suite=[accuracy]")):
        validate_suite("accuracy", "binary")
    with pytest.raises(ValueError, match="got 3 of type int"):
        validate_suite(["accuracy", 3], "binary")  # type: ignore[list-item]


def test_unknown_task_gets_a_close_match() -> None:
    with pytest.raises(ValueError, match=re.escape("Did you mean 'binary'?")):
        default_suite("binay")


# --- fingerprint ---------------------------------------------------------------


def test_fingerprint_shape_and_order_independence() -> None:
    settings_ = {"zero_division": math.nan, "positive_label": ">50K"}
    a = suite_fingerprint(["f1", "accuracy"], settings_)
    assert re.fullmatch(r"[0-9a-f]{16}", a)
    assert a == suite_fingerprint(["accuracy", "f1"], dict(reversed(settings_.items())))
    assert a == suite_fingerprint(
        ["accuracy", "f1"],
        {"zero_division": np.float64("nan"), "positive_label": ">50K"},
    )


def test_fingerprint_changes_with_settings_definitions_and_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = suite_fingerprint(["f1"], {"zero_division": 0.0})
    assert base != suite_fingerprint(["f1"], {"zero_division": 1.0})
    assert base != suite_fingerprint(["f1", "mcc"], {"zero_division": 0.0})
    edited = replace(REGISTRY["f1"], definition=REGISTRY["f1"].definition + " ")
    monkeypatch.setitem(REGISTRY, "f1", edited)
    assert base != suite_fingerprint(["f1"], {"zero_division": 0.0})
    monkeypatch.undo()
    monkeypatch.setattr(registry_module, "DEFINITIONS_VERSION", "2")
    assert base != suite_fingerprint(["f1"], {"zero_division": 0.0})


def test_fingerprint_rejects_unknown_names() -> None:
    with pytest.raises(UnknownMetricError, match="Did you mean 'accuracy'"):
        suite_fingerprint(["acuracy"], {})


# --- safe_key --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("recall@10", "recall_at_10"),
        ("pinball_loss[alpha=0.9]", "pinball_loss.alpha_0.9"),
        (">50K", "gt_50K"),
        ("<=50K", "le_50K"),
        ("a:b", "a_b"),
        ("café au lait", "cafe_au_lait"),
        ("../etc/./passwd", "etc/passwd"),
        (-1, "-1"),
        ("", "empty"),
        ("???", "empty"),
    ],
)
def test_safe_key_examples(name: object, key: str) -> None:
    assert safe_key(name) == key


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=True)))
def test_safe_key_is_mlflow_safe_and_idempotent(name: object) -> None:
    key = safe_key(name)
    assert re.fullmatch(r"[A-Za-z0-9_.\-/]+", key)
    assert 0 < len(key) <= 200
    assert safe_key(key) == key
    parts = key.split("/")
    assert all(part not in ("", ".", "..") for part in parts)
    assert not key.startswith((".", "_")) and not key.endswith((".", "_"))


def test_long_names_are_cut_with_a_hash() -> None:
    a, b = safe_key("x" * 300), safe_key("x" * 301)
    assert len(a) == len(b) == 200
    assert a != b


def test_labels_that_collide_as_keys_are_rejected_before_work() -> None:
    message = "class labels 'a b' and 'a_b' both become the metric key suffix 'a_b'"
    with pytest.raises(ValueError, match=message):
        validate_labels("multiclass", ["a b", "a_b", "c"])
    with pytest.raises(ValueError, match=message):
        evaluate("multiclass", ["c"], ["c"], classes=["a b", "a_b", "c"])


# --- evaluate: input errors ------------------------------------------------------


INPUT_ERRORS = [
    ("no-classes", {"classes": None}, "classes is required for task 'binary'"),
    ("three-classes", {"classes": [0, 1, 2]}, "needs exactly 2 classes"),
    ("duplicate", {"classes": [1, 1]}, "1 appears twice"),
    (
        "bad-positive",
        {"positive_label": 2},
        "positive_label 2 is not one of the classes",
    ),
    ("positive-type", {"positive_label": "1"}, "Did you mean 1?"),
    (
        "unseen",
        {"y_pred": [0, 1, 2, 0]},
        "y_pred contains labels that are not classes: [2]",
    ),
    (
        "types",
        {"y_true": ["a", "b", "a", "b"]},
        "labels that are not classes: ['a', 'b']; the classes are [0, 1]",
    ),
    ("lengths", {"y_pred": [0, 1, 0]}, "y_true has 4 rows but y_pred has 3"),
    ("2d", {"y_true": [[0, 1], [1, 0]]}, "y_true must be a non-empty 1-D"),
    ("score-len", {"scores": [0.1, 0.2]}, "scores must have shape (4,), got (2,)"),
    ("score-2d", {"scores": np.ones((4, 2)) / 2}, "proba[:, list(classes).index"),
    ("not-proba", {"scores": [0.1, 2.0, 0.3, 0.4]}, "Pass scores_are_proba=False"),
    (
        "nan-score",
        {"scores": [0.1, math.nan, 0.3, 0.4]},
        "scores contain 1 NaN or infinite value(s)",
    ),
    ("text-scores", {"scores": ["x"] * 4}, "scores must be numbers"),
    ("zd", {"zero_division": 2.0}, "zero_division must be nan or a number in [0, 1]"),
    ("no-scores", {"suite": ["roc_auc"]}, "need scores, but scores=None"),
]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(changes, message, id=name)
        for name, changes, message in INPUT_ERRORS
    ],
)
def test_binary_input_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        binary(**changes)


@pytest.mark.parametrize(
    ("classes", "shown"),
    [
        pytest.param([0, 1, 2], "[3]", id="codes"),
        pytest.param([-1, 1, 5], "[3]", id="table"),
        pytest.param([0, 10**9, 7], "[3]", id="sparse"),
        pytest.param(["a", "b", "c"], "['3']", id="strings"),  # numpy makes "3"
        pytest.param([0.0, 1.5, 2.0], "[3.0]", id="floats"),
    ],
)
def test_unseen_labels_are_named_on_every_encoding_path(
    classes: list[Any], shown: str
) -> None:
    y_true = np.array([classes[0], 3], dtype=object)
    with pytest.raises(ValueError, match=re.escape(f"not classes: {shown}")):
        evaluate("multiclass", y_true.tolist(), [classes[0]] * 2, classes=classes)
    with pytest.raises(ValueError, match=re.escape("not classes: [3]")):
        evaluate("multiclass", y_true, [classes[0]] * 2, classes=classes)


def test_unsigned_labels_with_negative_classes() -> None:
    y = np.array([1, 2, 2], dtype=np.uint64)
    values = evaluate("multiclass", y, y, classes=[-1, 1, 2], suite=["accuracy"])
    assert values.values == {"accuracy": 1.0}


def test_regression_rejects_classification_arguments() -> None:
    with pytest.raises(ValueError, match="only for classification"):
        evaluate("regression", [1.0], [1.0], classes=[0, 1])
    with pytest.raises(ValueError, match="scores are only for classification"):
        evaluate("regression", [1.0], [1.0], scores=[0.5])
    with pytest.raises(ValueError, match=re.escape("contains 1 NaN or infinite")):
        evaluate("regression", [1.0, math.inf], [1.0, 2.0])
    with pytest.raises(ValueError, match="sequence of numbers"):
        evaluate("regression", ["a"], [1.0])


def test_multiclass_scores_must_align_with_classes() -> None:
    with pytest.raises(ValueError, match=re.escape("shape (2, 3), got (2, 2)")):
        evaluate("multiclass", [0, 1], [0, 1], classes=[0, 1, 2], scores=np.eye(2))


# --- evaluate: behaviour -----------------------------------------------------------


def test_decision_function_scores_skip_proba_metrics() -> None:
    result = binary(scores=[-2.0, 3.0, 0.5, -1.0], scores_are_proba=False)
    assert "log_loss" not in result.values and "brier" not in result.values
    assert result.values["roc_auc"] == 1.0
    skipped = [w for w in result.warnings if w.metric in {"log_loss", "brier"}]
    assert len(skipped) == 2
    assert all(math.isnan(w.value) and "skipped" in w.cause for w in skipped)


def test_no_scores_leaves_ranking_out_of_the_default_suite() -> None:
    result = binary()
    assert set(result.values) == {
        n for n in BINARY_SUITE if REGISTRY[n].needs == "labels"
    }


def test_unnormalised_probability_rows_warn() -> None:
    result = evaluate(
        "multiclass", [0, 1], [0, 1], classes=[0, 1, 2],
        scores=[[0.5, 0.2, 0.1], [0.1, 0.8, 0.1]], suite=["log_loss"],
    )  # fmt: skip
    (warning,) = result.warnings
    assert warning.cause == "probability rows do not sum to 1 (largest gap 0.2)"


def test_suite_duplicates_are_logged_once() -> None:
    result = binary(suite=["f1", "f1", "accuracy"])
    assert list(result.values) == ["f1", "accuracy"]


def test_warnings_serialise_for_the_run_record() -> None:
    result = binary(y_true=[0, 0], y_pred=[0, 0], suite=["precision"])
    (warning,) = result.warnings
    record = json.loads(json.dumps(vars(warning), allow_nan=True))
    assert record["metric"] == "precision"
    assert record["setting"] == "metrics.zero_division"
    assert str(warning).startswith("precision: no true and no predicted positives;")
    assert isinstance(warning, MetricWarning)


def test_bool_and_object_labels() -> None:
    a = evaluate(
        "binary", [True, False, True], [True, True, False],
        classes=[False, True], positive_label=True, suite=["tp", "fp", "fn"],
    ).values  # fmt: skip
    assert a == {"tp": 1.0, "fp": 1.0, "fn": 1.0}
    mixed_true = np.array([1, "x", 1], dtype=object)
    mixed_pred = np.array(["x", "x", 1], dtype=object)
    b = evaluate(
        "binary", mixed_true, mixed_pred,
        classes=[1, "x"], positive_label="x", suite=["tp", "fp", "fn"],
    ).values  # fmt: skip
    assert b == {"tp": 1.0, "fp": 1.0, "fn": 0.0}


def test_large_sparse_integer_labels_use_the_search_path() -> None:
    classes = [0, 10**12, 5]
    values = evaluate(
        "multiclass", [0, 10**12, 5, 5], [0, 5, 5, 5], classes=classes,
        suite=["recall_per_class"],
    ).values  # fmt: skip
    assert values == {"recall.0": 1.0, "recall.1000000000000": 0.0, "recall.5": 1.0}
