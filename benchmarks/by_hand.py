"""The runner's default job written by hand with scikit-learn and MLflow.

Same data, split, model, metrics and artifacts as
``python -m runner model=rf tracking.log_model=false``; used by
``bench_runner.py`` as the baseline.  Usage: ``python by_hand.py TRACKING_URI``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn import metrics as skm  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

POS = "malignant"


def split_rows(y: np.ndarray) -> dict[str, np.ndarray]:
    rows = np.arange(len(y))
    rest, test = train_test_split(rows, test_size=0.2, random_state=0, stratify=y)
    train, val = train_test_split(
        rest, test_size=0.2 / 0.8, random_state=0, stratify=y[rest]
    )
    # Sorted, as the runner keeps them: the same rows in the same order.
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def scores(y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    pos_true, pos_pred = y == POS, pred == POS
    tp = int((pos_true & pos_pred).sum())
    fp = int((~pos_true & pos_pred).sum())
    tn = int((~pos_true & ~pos_pred).sum())
    fn = int((pos_true & ~pos_pred).sum())
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, pos_label=POS, zero_division=np.nan),
        "recall": skm.recall_score(y, pred, pos_label=POS, zero_division=np.nan),
        "f1": skm.f1_score(y, pred, pos_label=POS, zero_division=np.nan),
        "specificity": tn / (tn + fp),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "mcc": skm.matthews_corrcoef(y, pred),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "roc_auc": skm.roc_auc_score(pos_true, proba),
        "pr_auc": skm.average_precision_score(pos_true, proba),
        "log_loss": skm.log_loss(pos_true, proba, labels=[False, True]),
        "brier": skm.brier_score_loss(pos_true, proba),
    }


def draw(out: Path, cm: np.ndarray, positive: np.ndarray, proba: np.ndarray) -> None:
    """The same five pictures the runner draws for a binary run."""
    from sklearn.calibration import CalibrationDisplay

    for name, values, fmt in (
        ("confusion_matrix", cm, "d"),
        ("confusion_matrix_normalized", cm / cm.sum(axis=1, keepdims=True), ".2f"),
    ):
        fig, ax = plt.subplots(figsize=(4, 4))
        skm.ConfusionMatrixDisplay(values, display_labels=["benign", POS]).plot(
            ax=ax, colorbar=False, values_format=fmt
        )
        fig.savefig(out / f"{name}.png", dpi=90)
        plt.close(fig)
    for name, display in (
        ("roc_curve", skm.RocCurveDisplay),
        ("precision_recall_curve", skm.PrecisionRecallDisplay),
        ("calibration_curve", CalibrationDisplay),
    ):
        fig, ax = plt.subplots(figsize=(5, 5))
        display.from_predictions(positive, proba, ax=ax)
        fig.savefig(out / f"{name}.png", dpi=90)
        plt.close(fig)


def main(uri: str) -> None:
    bunch = load_breast_cancer(as_frame=True)
    X = bunch.frame.drop(columns="target")
    y = np.asarray(bunch.target_names, dtype=object)[bunch.target.to_numpy()]
    parts = split_rows(y)
    pipe = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [("numeric", SimpleImputer(strategy="median"), list(X.columns))]
                ),
            ),
            (
                "model",
                RandomForestClassifier(
                    n_estimators=100, max_features="sqrt", random_state=0
                ),
            ),
        ]
    )
    pipe.fit(X.iloc[parts["train"]], y[parts["train"]])
    pos_col = list(pipe.classes_).index(POS)

    values, test_rows = {}, None
    for name, rows in parts.items():
        proba = pipe.predict_proba(X.iloc[rows])[:, pos_col]
        pred = np.where(proba >= 0.5, POS, "benign")
        for key, value in scores(y[rows], pred, proba).items():
            values[f"{name}/{key}"] = float(value)
        if name == "test":
            test_rows = (rows, y[rows], pred, proba)

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("by_hand")
    params = {
        "model.n_estimators": 100,
        "model.max_features": "sqrt",
        "model.random_state": 0,
        "split.val_size": 0.2,
        "split.test_size": 0.2,
        "seed": 0,
        "dataset.name": "breast_cancer",
    }
    with (
        mlflow.start_run(run_name="rf-breast_cancer"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(params)
        mlflow.set_tags({"model": "rf", "dataset": "breast_cancer"})
        mlflow.log_metrics(values)
        out = Path(tmp)
        (out / "config.yaml").write_text(json.dumps(params))
        (out / "metrics.json").write_text(json.dumps(values))
        rows, yt, yp, pr = test_rows
        pd.DataFrame(
            {"row_id": rows, "y_true": yt, "y_pred": yp, f"proba_{POS}": pr}
        ).to_csv(out / "predictions.csv", index=False)
        cm = skm.confusion_matrix(yt, yp, labels=["benign", POS])
        pd.DataFrame(cm, index=["benign", POS], columns=["benign", POS]).to_csv(
            out / "confusion_matrix.csv"
        )
        draw(out, cm, yt == POS, pr)
        mlflow.log_artifacts(str(out))
    print(f"test/f1={values['test/f1']:.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
