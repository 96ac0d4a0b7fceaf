"""Pictures of a run, drawn only when ``tracking.plots`` is true.

This module imports matplotlib, so the job imports it only when plots are on.
The curves come from scikit-learn's display classes: the runner draws the
standard pictures, not its own variants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def draw_all(
    folder: Path,
    task: str,
    name: str,
    positive_label: Any,
    test: Any,
    confusion: Any,
) -> None:
    """Write every picture that applies to the task into ``folder``.

    ``test`` holds the test split's ``y_true``, ``y_pred``, ``scores`` and
    ``scores_are_proba``; ``confusion`` its confusion table (or None).
    """
    if task == "regression":
        _regression(folder, test, name)
        return
    if confusion is not None:
        confusion_matrix(
            folder / "confusion_matrix.png",
            confusion.labels,
            confusion.counts,
            f"{name}: test",
        )
        confusion_matrix(
            folder / "confusion_matrix_normalized.png",
            confusion.labels,
            confusion.counts,
            f"{name}: test, share of true class",
            normalize=True,
        )
    if task == "binary" and test.scores is not None:
        _binary_curves(folder, test, name, positive_label)


def confusion_matrix(
    path: Path, labels: list[Any], counts: Any, title: str, normalize: bool = False
) -> None:
    """Confusion matrix with rows = true, columns = predicted."""
    from sklearn.metrics import ConfusionMatrixDisplay

    counts = np.asarray(counts, dtype=float)
    if normalize:
        rows = counts.sum(axis=1, keepdims=True)
        counts = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 2.8 + 0.6 * len(labels)
    fig, ax = plt.subplots(figsize=(size, size))
    shown = counts if normalize else counts.astype(int)
    ConfusionMatrixDisplay(shown, display_labels=[str(v) for v in labels]).plot(
        ax=ax,
        cmap="Blues",
        colorbar=False,
        values_format=".2f" if normalize else "d",
        xticks_rotation=45,
    )
    ax.set_title(title)
    _save(fig, path)


def _binary_curves(folder: Path, test: Any, name: str, positive_label: Any) -> None:
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    positive = test.y_true == positive_label
    if positive.all() or not positive.any():
        return  # one class only: no curve is defined
    label = f"positive = {positive_label}"
    for file, display in (
        ("roc_curve", RocCurveDisplay),
        ("precision_recall_curve", PrecisionRecallDisplay),
    ):
        fig, ax = plt.subplots(figsize=(5, 5))
        display.from_predictions(positive, test.scores, ax=ax, name=name)
        ax.set_title(f"{file.replace('_', ' ')} (test, {label})")
        _save(fig, folder / f"{file}.png")
    if test.scores_are_proba:
        fig, ax = plt.subplots(figsize=(5, 5))
        CalibrationDisplay.from_predictions(
            positive, test.scores, n_bins=10, ax=ax, name=name
        )
        ax.set_title(f"calibration (test, {label})")
        _save(fig, folder / "calibration_curve.png")


def _regression(folder: Path, test: Any, name: str) -> None:
    from sklearn.metrics import PredictionErrorDisplay

    for kind, file in (
        ("actual_vs_predicted", "predicted_vs_true.png"),
        ("residual_vs_predicted", "residuals.png"),
    ):
        fig, ax = plt.subplots(figsize=(5, 5))
        PredictionErrorDisplay.from_predictions(
            test.y_true.astype(float), test.y_pred.astype(float), kind=kind, ax=ax
        )
        ax.set_title(f"{name}: {kind.replace('_', ' ')} (test)")
        _save(fig, folder / file)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
