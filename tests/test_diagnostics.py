"""Diagnostics: the accuracy paradox, overfitting and leakage.

Unit tests feed values computed with scikit-learn and pandas; end-to-end tests
run the real command line on the shared CSV files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from runner import diagnostics as dg
from runner.schema import DiagnosticsConfig
from tests.conftest import DATA, RunCli, Store

CFG = OmegaConf.structured(DiagnosticsConfig)


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, p),
        "recall": skm.recall_score(y, p, pos_label=1),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p),
        "mcc": skm.matthews_corrcoef(y, p),
    }


def test_c35_fraud_model_that_looks_good_is_flagged() -> None:
    y = np.zeros(1000, dtype=int)
    y[:10] = 1
    p = np.zeros(1000, dtype=int)
    p[[0, 500, 501]] = 1  # flags 3, one of them fraud
    model = binary_metrics(y, p)
    assert model["accuracy"] == pytest.approx(0.989)
    baseline = binary_metrics(y, np.zeros(1000, dtype=int))
    d = dg.accuracy_paradox(model, baseline, majority_share=0.99, cfg=CFG)
    assert d.status == "warn"
    assert "test accuracy 0.989 is not clearly above the majority baseline's 0.990" in (
        d.reason
    )
    assert "recall of the positive class 0.100 < 0.5" in d.reason
    assert d.evidence["mcc"] == pytest.approx(0.178257, abs=1e-6)


def test_good_model_on_balanced_classes_is_ok() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.where(rng.random(400) < 0.9, y, 1 - y)
    baseline = binary_metrics(y, np.full(400, np.bincount(y).argmax()))
    d = dg.accuracy_paradox(binary_metrics(y, p), baseline, 0.5, CFG)
    assert d.status == "ok", d.reason


def test_overfitting_gap_bounded_and_relative() -> None:
    d, gap = dg.overfitting("f1", 1.0, 0.8, maximize=True, cfg=CFG)
    assert d.status == "warn" and gap == pytest.approx(0.2)
    assert "exceeds diagnostics.overfit_gap=0.1" in d.reason
    d, gap = dg.overfitting("f1", 0.95, 0.9, maximize=True, cfg=CFG)
    assert d.status == "ok" and gap == pytest.approx(0.05)
    d, gap = dg.overfitting("rmse", 1.0, 3.0, maximize=False, cfg=CFG)
    assert d.status == "warn" and gap == pytest.approx(2.0)
    assert d.evidence["relative_gap"] == pytest.approx(2 / 3)


def test_c28_rows_repeated_across_the_split() -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame(rng.standard_normal((40, 3)), columns=["a", "b", "c"])
    X = pd.DataFrame(np.repeat(base.to_numpy(), 3, axis=0), columns=base.columns)
    rows = np.arange(len(X))
    train, test = train_test_split(rows, test_size=0.25, random_state=0)
    parts = {"train": train, "val": test, "test": test}
    d = dg.leakage_duplicates(X, parts, CFG)
    in_train = (
        X.iloc[test]
        .merge(X.iloc[train].drop_duplicates(), how="left", indicator=True)["_merge"]
        .eq("both")
        .mean()
    )
    assert in_train == pytest.approx(0.9)
    assert d.status == "warn"
    assert d.evidence["test"]["fraction"] == pytest.approx(in_train)


def test_c30_feature_that_copies_the_target() -> None:
    rng = np.random.default_rng(7)
    y = np.zeros(200, dtype=int)
    y[rng.choice(200, 10, replace=False)] = 1
    X = pd.DataFrame(
        {"age_z": rng.standard_normal(200), "score_u": rng.random(200), "flag_copy": y}
    )
    d = dg.leakage_feature(X, y, "binary", 1, CFG)
    assert d.status == "warn"
    assert "['flag_copy']" in d.reason and "dataset.drop=[flag_copy]" in d.reason
    assert d.evidence["scores"]["flag_copy"] == 1.0
    clean = dg.leakage_feature(X.drop(columns="flag_copy"), y, "binary", 1, CFG)
    assert clean.status == "ok"
    auc = skm.roc_auc_score(y, X["age_z"])
    assert clean.evidence["scores"]["age_z"] == pytest.approx(max(auc, 1 - auc))


def test_regression_feature_that_copies_the_target() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    X = pd.DataFrame({"noise": rng.normal(size=300), "copy": y * 2 + 1})
    d = dg.leakage_feature(X, y, "regression", None, CFG)
    assert d.status == "warn" and "['copy']" in d.reason


def test_training_rows_after_evaluation_rows() -> None:
    time = pd.Series(pd.date_range("2020-01-01", periods=10, freq="D"))
    shuffled = {
        "train": np.array([0, 1, 2, 3, 9, 5]),
        "val": np.array([6, 7]),
        "test": np.array([4, 8]),
    }
    d = dg.leakage_time(time, shuffled)
    assert d.status == "warn"
    assert d.evidence["train_rows_after_first_eval_row"] == 2  # rows 9 and 5
    ordered = {"train": np.arange(6), "val": np.array([6, 7]), "test": np.array([8, 9])}
    assert dg.leakage_time(time, ordered).status == "ok"


MAMMOGRAPHY = [
    "dataset=csv",
    f"dataset.path={DATA / 'mammography.csv'}",
    "dataset.header=false",
    "dataset.target=-1",
    "dataset.positive_label='1'",
]
TITANIC = [
    "dataset=csv",
    f"dataset.path={DATA / 'titanic.csv'}",
    "dataset.target=survived",
    "dataset.positive_label=1",
]


def test_paradox_fires_for_the_baseline_on_the_most_imbalanced_file(
    run_cli: RunCli, store: Store
) -> None:
    proc = run_cli(
        *MAMMOGRAPHY, "model=dummy", "tracking.log_model=false", "tracking.plots=false"
    )
    run = store.runs()[0]
    tags, m = run.data.tags, run.data.metrics
    assert tags["diagnostic.accuracy_paradox"] == "warn"
    assert "warn     accuracy_paradox: test accuracy" in proc.stdout
    assert m["test/accuracy"] == pytest.approx(m["test/baseline_accuracy"])
    assert m["data/majority_share"] == pytest.approx(0.9768, abs=1e-3)
    assert tags["runner.positive_label"] == "'1'"


def test_no_paradox_for_a_good_model_on_balanced_data(
    run_cli: RunCli, store: Store
) -> None:
    run_cli(
        *TITANIC,
        "dataset.drop=[alive]",
        "model=rf",
        "tracking.log_model=false",
        "tracking.plots=false",
    )
    tags = store.runs()[0].data.tags
    assert tags["diagnostic.accuracy_paradox"] == "ok"
    assert tags["diagnostic.leakage_feature"] == "ok"


def test_leakage_fires_when_a_column_copies_the_target(
    run_cli: RunCli, store: Store
) -> None:
    run_cli(*TITANIC, "model=rf", "tracking.log_model=false", "tracking.plots=false")
    tags = store.runs()[0].data.tags
    assert tags["diagnostic.leakage_feature"] == "warn"
    assert "['alive']" in tags["diagnostic.leakage_feature.reason"]


def test_no_diagnostic_fires_on_a_clean_dataset(run_cli: RunCli, store: Store) -> None:
    run_cli("model=logreg", "tracking.log_model=false")
    run = store.runs()[0]
    flags = {
        k: v
        for k, v in run.data.tags.items()
        if k.startswith("diagnostic.") and not k.endswith(".reason")
    }
    assert set(flags) >= {
        "diagnostic.accuracy_paradox",
        "diagnostic.overfitting",
        "diagnostic.leakage_duplicates",
        "diagnostic.leakage_feature",
    }
    assert set(flags.values()) == {"ok"}, flags
    names = {a.path for a in store.client().list_artifacts(run.info.run_id)}
    assert {
        "diagnostics.json",
        "roc_curve.png",
        "precision_recall_curve.png",
        "calibration_curve.png",
        "confusion_matrix_normalized.png",
    } <= names


def test_trading_accuracy_for_minority_recall_is_not_the_paradox() -> None:
    # 900 negatives, 100 positives; the model finds 80 positives at the cost
    # of 150 false alarms: accuracy 0.83 < baseline 0.90, but a useful model.
    y = np.r_[np.zeros(900, dtype=int), np.ones(100, dtype=int)]
    p = np.r_[
        np.ones(150, dtype=int),
        np.zeros(750, dtype=int),
        np.ones(80, dtype=int),
        np.zeros(20, dtype=int),
    ]
    model = binary_metrics(y, p)
    baseline = binary_metrics(y, np.zeros(1000, dtype=int))
    assert model["accuracy"] == pytest.approx(0.83)
    d = dg.accuracy_paradox(model, baseline, majority_share=0.9, cfg=CFG)
    assert d.status == "ok", d.reason
    assert "balanced accuracy 0.817 beats the baseline's 0.500" in d.reason


def test_single_feature_auc_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    scores = {
        "ties": rng.integers(0, 5, 500).astype(float),
        "smooth": rng.normal(size=500) + y,
    }
    for values in scores.values():
        auc = skm.roc_auc_score(y == 1, values)
        assert dg._auc(y == 1, values) == pytest.approx(auc, abs=1e-12)
