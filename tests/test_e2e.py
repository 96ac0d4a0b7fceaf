"""The real command line, end to end, read back from the MLflow store.

Every test metric is recomputed with scikit-learn from the logged
``predictions.csv`` and must equal the logged value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tests.conftest import DATA, RunCli, Store

TITANIC = [
    "dataset=csv",
    f"dataset.path={DATA / 'titanic.csv'}",
    "dataset.target=survived",
    "dataset.positive_label=1",
    "dataset.drop=[alive]",
]
PENGUINS = [
    "dataset=csv",
    f"dataset.path={DATA / 'penguins.csv'}",
    "dataset.target=species",
]
AUTO_MPG = [
    "dataset=csv",
    f"dataset.path={DATA / 'auto_mpg.csv'}",
    "dataset.target=mpg",
]


def artifact(store: Store, run: Any, path: str, tmp: Path) -> Path:
    return Path(store.client().download_artifacts(run.info.run_id, path, str(tmp)))


def predictions(store: Store, run: Any, tmp: Path) -> pd.DataFrame:
    return pd.read_csv(
        artifact(store, run, "predictions.csv", tmp),
        dtype={"y_true": str, "y_pred": str},
    )


def same_values(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal keys and values, NaN equal to NaN (an undefined metric)."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])) for k in a
    )


def only_run(store: Store) -> Any:
    runs = store.runs()
    assert len(runs) == 1, [r.info.run_name for r in runs]
    assert runs[0].info.status == "FINISHED"
    return runs[0]


def test_default_run_logs_everything(
    run_cli: RunCli, store: Store, tmp_path: Path
) -> None:
    proc = run_cli()
    run = only_run(store)
    m, tags, params = run.data.metrics, run.data.tags, run.data.params

    assert run.info.run_name == "rf-breast_cancer"
    assert run.info.run_id in proc.stdout and "rf-breast_cancer" in proc.stdout
    assert "mlflow ui --backend-store-uri sqlite:///" in proc.stdout
    assert params["model.n_estimators"] == "100"
    assert params["seed"] == "0" and params["model.random_state"] == "0"
    assert params["dataset.positive_label"] == "malignant"
    assert tags["runner.choice.model"] == "rf"
    assert tags["runner.choice.dataset"] == "breast_cancer"
    assert tags["runner.task"] == "binary"
    assert len(tags["runner.config_hash"]) == 16
    assert len(tags["runner.data_digest"]) == 16
    assert (
        len(tags["runner.git_commit"]) in (40, 7)
        or tags["runner.git_commit"] == "unknown"
    )
    for part in ("train", "val", "test"):
        for key in (
            "accuracy",
            "precision",
            "recall",
            "f1",
            "tp",
            "fp",
            "tn",
            "fn",
            "roc_auc",
            "log_loss",
        ):
            assert f"{part}/{key}" in m, f"{part}/{key}"
    assert m["test/tp"] + m["test/fp"] + m["test/tn"] + m["test/fn"] == 114

    names = {a.path for a in store.client().list_artifacts(run.info.run_id)}
    assert {
        "config.yaml",
        "overrides.yaml",
        "metrics.json",
        "predictions.csv",
        "confusion_matrix.csv",
        "confusion_matrix.png",
        "diagnostics.json",
    } <= names
    models = store.client().search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id='{run.info.run_id}'",
    )
    assert [lm.name for lm in models] == ["model"]

    pred = predictions(store, run, tmp_path)
    y, p = pred["y_true"], pred["y_pred"]
    pos = "malignant"
    assert m["test/accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert m["test/precision"] == pytest.approx(
        skm.precision_score(y, p, pos_label=pos), abs=1e-12
    )
    assert m["test/recall"] == pytest.approx(
        skm.recall_score(y, p, pos_label=pos), abs=1e-12
    )
    assert m["test/f1"] == pytest.approx(skm.f1_score(y, p, pos_label=pos), abs=1e-12)
    assert m["test/roc_auc"] == pytest.approx(
        skm.roc_auc_score(y == pos, pred[f"proba_{pos}"]), abs=1e-12
    )
    proba = np.column_stack([1 - pred[f"proba_{pos}"], pred[f"proba_{pos}"]])
    assert m["test/log_loss"] == pytest.approx(
        skm.log_loss(y, proba, labels=["benign", pos]), abs=1e-9
    )
    assert m["test/tp"] == ((y == pos) & (p == pos)).sum()
    assert m["test/fn"] == ((y == pos) & (p != pos)).sum()

    cm = pd.read_csv(
        artifact(store, run, "confusion_matrix.csv", tmp_path), index_col=0
    )
    assert list(cm.index) == ["benign", "malignant"]
    assert cm.loc["malignant", "malignant"] == m["test/tp"]
    assert cm.loc["benign", "malignant"] == m["test/fp"]
    saved = json.loads(artifact(store, run, "metrics.json", tmp_path).read_text())
    assert saved["metrics"]["test/f1"] == pytest.approx(m["test/f1"])


def test_model_is_loadable_and_predicts_like_the_run(
    run_cli: RunCli, store: Store, tmp_path: Path
) -> None:
    import mlflow

    run_cli("model=logreg", "tracking.plots=false")
    run = only_run(store)
    mlflow.set_tracking_uri(store.uri)
    model = mlflow.sklearn.load_model(
        f"runs:/{run.info.run_id}/model", dst_path=str(tmp_path)
    )
    names = {a.path for a in store.client().list_artifacts(run.info.run_id)}
    assert "confusion_matrix.png" not in names
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    pred = predictions(store, run, tmp_path)
    got = model.predict(X.iloc[pred["row_id"]])
    assert (got == pred["y_pred"].to_numpy()).all()


def test_titanic_csv(run_cli: RunCli, store: Store, tmp_path: Path) -> None:
    run_cli(*TITANIC, "model=hgb", "tracking.log_model=false")
    run = only_run(store)
    assert run.info.run_name == "hgb-titanic-drop=[alive]"
    m = run.data.metrics
    pred = pd.read_csv(artifact(store, run, "predictions.csv", tmp_path))
    y, p = pred["y_true"], pred["y_pred"]
    assert len(pred) == 179
    assert m["test/recall"] == pytest.approx(skm.recall_score(y, p, pos_label=1))
    assert m["test/precision"] == pytest.approx(skm.precision_score(y, p, pos_label=1))
    assert m["test/roc_auc"] == pytest.approx(skm.roc_auc_score(y, pred["proba_1"]))
    assert run.data.tags["runner.data_file_sha256"]
    assert run.data.params["dataset.drop"] == '["alive"]'


def test_penguins_multiclass_csv(run_cli: RunCli, store: Store, tmp_path: Path) -> None:
    run_cli(*PENGUINS, "model=logreg", "tracking.log_model=false")
    run = only_run(store)
    m = run.data.metrics
    pred = predictions(store, run, tmp_path)
    y, p = pred["y_true"], pred["y_pred"]
    assert m["test/f1_macro"] == pytest.approx(skm.f1_score(y, p, average="macro"))
    assert m["test/accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    labels = ["Adelie", "Chinstrap", "Gentoo"]
    proba = pred[[f"proba_{c}" for c in labels]].to_numpy()
    assert m["test/log_loss"] == pytest.approx(
        skm.log_loss(y, proba, labels=labels), abs=1e-9
    )
    assert "test/tp" not in m


def test_auto_mpg_regression_csv(run_cli: RunCli, store: Store, tmp_path: Path) -> None:
    run_cli(*AUTO_MPG, "model=rf", "model.n_estimators=50", "tracking.log_model=false")
    run = only_run(store)
    assert run.info.run_name == "rf-auto_mpg-n_estimators=50"
    assert run.data.tags["runner.task"] == "regression"
    m = run.data.metrics
    pred = pd.read_csv(artifact(store, run, "predictions.csv", tmp_path))
    y, p = pred["y_true"], pred["y_pred"]
    assert m["test/mae"] == pytest.approx(skm.mean_absolute_error(y, p), abs=1e-9)
    assert m["test/rmse"] == pytest.approx(skm.root_mean_squared_error(y, p), abs=1e-9)
    assert m["test/r2"] == pytest.approx(skm.r2_score(y, p), abs=1e-9)
    names = {a.path for a in store.client().list_artifacts(run.info.run_id)}
    assert "confusion_matrix.csv" not in names


def test_rf_on_diabetes_is_a_regressor(run_cli: RunCli, store: Store) -> None:
    run_cli("dataset=diabetes", "tracking.log_model=false")
    run = only_run(store)
    assert run.data.params["model._regressor_"].endswith("RandomForestRegressor")
    assert {"test/mae", "test/rmse", "test/r2"} <= set(run.data.metrics)


def test_multirun_gives_one_run_per_job(run_cli: RunCli, store: Store) -> None:
    run_cli("-m", "model=rf,logreg", "dataset=iris", "tracking.log_model=false")
    runs = [r for r in store.runs() if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.info.run_name for r in runs) == ["logreg-iris", "rf-iris"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    dirs = {r.data.tags["runner.output_dir"] for r in runs}
    assert len(dirs) == 2


def test_same_config_twice_gives_identical_metrics(
    run_cli: RunCli, store: Store
) -> None:
    args = (*TITANIC, "model=rf", "model.n_estimators=30", "tracking.log_model=false")
    run_cli(*args)
    run_cli(*args)
    first, second = store.runs()
    assert same_values(first.data.metrics, second.data.metrics)
    assert (
        first.data.tags["runner.config_hash"] == second.data.tags["runner.config_hash"]
    )
    assert first.data.tags["runner.output_dir"] != second.data.tags["runner.output_dir"]


def test_runs_from_another_folder_land_in_the_same_store(
    run_cli: RunCli, store: Store, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    run_cli("model=dummy", "tracking.log_model=false", cwd=elsewhere)
    assert only_run(store).info.run_name == "dummy-breast_cancer"
    assert not (elsewhere / "mlflow.db").exists()
    assert not (elsewhere / "mlruns").exists()


def test_plots_off_never_imports_matplotlib(run_cli: RunCli, store: Store) -> None:
    import subprocess
    import sys

    env = store.env()
    cmd = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "runner",
        "model=dummy",
        "tracking.plots=false",
        "tracking.log_model=false",
    ]
    proc = subprocess.run(
        cmd,
        cwd=store.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "| matplotlib" not in proc.stderr
    assert "| mlflow" in proc.stderr  # the check would see an import


def test_tuned_threshold_is_applied_to_the_predictions(
    run_cli: RunCli, store: Store, tmp_path: Path
) -> None:
    run_cli(
        "model=logreg",
        "metrics.tune_threshold=f1",
        "tracking.log_model=false",
        "tracking.plots=false",
    )
    run = only_run(store)
    threshold = run.data.metrics["threshold"]
    assert 0 < threshold < 1
    assert run.data.params["metrics.tune_threshold"] == "f1"
    pred = predictions(store, run, tmp_path)
    expected = np.where(pred["proba_malignant"] >= threshold, "malignant", "benign")
    assert (pred["y_pred"].to_numpy() == expected).all()
