"""Diagnostics: what a person looking only at the headline number would miss.

Each check returns a :class:`Diagnostic` with status ``ok`` or ``warn``, a
one-line reason and its evidence.  The run logs the status as the tag
``diagnostic.<name>``, the reason as ``diagnostic.<name>.reason``, and the
evidence in ``diagnostics.json``.  Every threshold is a key of the
``diagnostics`` config node.

accuracy_paradox
    A majority-class baseline is evaluated on the same split.  Warn when the
    model's accuracy is not clearly above the baseline's, or when the classes
    are imbalanced and balanced accuracy, the positive class's recall or MCC
    show that the accuracy hides a useless model.
overfitting
    The train minus validation gap of the primary metric (signed so that a
    positive gap means train looks better), absolute for bounded scores and
    relative to the validation value for error metrics.
leakage_duplicates
    Evaluation rows whose features exactly equal a training row's.
leakage_feature
    A single feature that alone predicts the target almost perfectly on the
    training rows (ROC AUC or |correlation| or purity at least the threshold).
leakage_time
    With ``dataset.time_column``: training rows later than an evaluation row.
near_perfect
    A test score so close to perfect that it is more likely a leak than a
    model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Diagnostic:
    """Outcome of one check."""

    name: str
    status: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ok(name: str, reason: str, **evidence: Any) -> Diagnostic:
    return Diagnostic(name, "ok", reason, evidence)


def _warn(name: str, reason: str, **evidence: Any) -> Diagnostic:
    return Diagnostic(name, "warn", reason, evidence)


# --------------------------------------------------------------------------
# Accuracy paradox


def class_balance(y: np.ndarray, classes: list[Any]) -> dict[Any, float]:
    """Share of each class in ``y``."""
    n = len(y)
    return {c: float(np.sum(y == c)) / n for c in classes}


def accuracy_paradox(
    model: dict[str, float],
    baseline: dict[str, float],
    majority_share: float,
    cfg: Any,
    split: str = "test",
) -> Diagnostic:
    """Compare a split's metrics with the majority-class baseline's.

    Parameters
    ----------
    model, baseline : dict
        Metric values of the model and of the baseline on the same split.
    majority_share : float
        Share of the most frequent class in the training rows.
    cfg : DictConfig
        The ``diagnostics`` node.
    """
    name = "accuracy_paradox"
    acc, base = model["accuracy"], baseline["accuracy"]
    evidence: dict[str, Any] = {
        "split": split,
        "accuracy": acc,
        "baseline_accuracy": base,
        "majority_share": majority_share,
    }
    for key in ("balanced_accuracy", "recall", "mcc"):
        if key in model:
            evidence[key] = model[key]
    if not acc > base + cfg.paradox_margin:
        # Below the baseline's accuracy is the paradox only when the
        # class-aware view agrees; a model that trades accuracy for recall of
        # a rare class (class weights) beats the baseline's balanced accuracy.
        base_bal = baseline.get("balanced_accuracy", 0.5)
        bal = model.get("balanced_accuracy", base_bal)
        if not bal > base_bal + cfg.paradox_margin or _hidden(model, cfg):
            return _warn(
                name,
                f"{split} accuracy {acc:.3f} is not clearly above the majority "
                f"baseline's {base:.3f} (margin diagnostics.paradox_margin="
                f"{cfg.paradox_margin})" + _hidden(model, cfg),
                **evidence,
            )
        return _ok(
            name,
            f"{split} accuracy {acc:.3f} is below the baseline's {base:.3f}, but "
            f"balanced accuracy {bal:.3f} beats the baseline's {base_bal:.3f}",
            **evidence,
        )
    if majority_share >= cfg.imbalance:
        hidden = _hidden(model, cfg)
        if hidden:
            return _warn(
                name,
                f"{split} accuracy {acc:.3f} on imbalanced classes (majority "
                f"{majority_share:.1%}) hides a weak model" + hidden,
                **evidence,
            )
    return _ok(name, f"{split} accuracy {acc:.3f} vs baseline {base:.3f}", **evidence)


def _hidden(model: dict[str, float], cfg: Any) -> str:
    """Reasons in the class-aware metrics that the accuracy hides."""
    limits = (
        ("recall", cfg.paradox_min_recall, "recall of the positive class"),
        ("balanced_accuracy", cfg.paradox_min_balanced_accuracy, "balanced accuracy"),
        ("mcc", cfg.paradox_min_mcc, "MCC"),
    )
    found = [
        f"{label} {model[key]:.3f} < {limit}"
        for key, limit, label in limits
        if key in model and np.isfinite(model[key]) and model[key] < limit
    ]
    return f": {', '.join(found)}" if found else ""


# --------------------------------------------------------------------------
# Overfitting


def overfitting(
    primary: str, train: float, val: float, maximize: bool, cfg: Any
) -> tuple[Diagnostic, float]:
    """Gap between train and validation of the primary metric."""
    name = "overfitting"
    gap = train - val if maximize else val - train
    evidence = {"metric": primary, "train": train, "val": val, "gap": gap}
    if not (np.isfinite(train) and np.isfinite(val)):
        return _ok(name, f"{primary} undefined on train or val", **evidence), gap
    # Scores such as f1 live in [0, 1]: compare the gap itself.  Errors such
    # as rmse have the target's unit: compare the gap relative to val.
    if maximize:
        size, limit, key = gap, cfg.overfit_gap, "diagnostics.overfit_gap"
        shown = f"{gap:.3f}"
    else:
        size = gap / abs(val) if val else np.inf
        limit, key = cfg.overfit_relative_gap, "diagnostics.overfit_relative_gap"
        shown = f"{size:.1%} of val"
        evidence["relative_gap"] = size
    if size > limit:
        reason = (
            f"train {primary} {train:.3f} vs val {val:.3f}: gap {shown} exceeds "
            f"{key}={limit}"
        )
        return _warn(name, reason, **evidence), gap
    return _ok(name, f"train/val gap of {primary}: {shown}", **evidence), gap


# --------------------------------------------------------------------------
# Leakage


def _row_hashes(X: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(X, index=False).to_numpy()


def leakage_duplicates(
    X: pd.DataFrame, parts: dict[str, np.ndarray], cfg: Any
) -> Diagnostic:
    """Evaluation rows that are exact copies of a training row's features."""
    name = "leakage_duplicates"
    hashes = _row_hashes(X)
    train = set(hashes[parts["train"]].tolist())
    evidence: dict[str, Any] = {}
    worst = 0.0
    for split in ("val", "test"):
        shared = int(np.isin(hashes[parts[split]], list(train)).sum())
        frac = shared / max(len(parts[split]), 1)
        evidence[split] = {"shared_rows": shared, "fraction": frac}
        worst = max(worst, frac)
    shown = ", ".join(
        f"{s}: {e['shared_rows']} rows ({e['fraction']:.1%})"
        for s, e in evidence.items()
    )
    if worst > cfg.duplicate_fraction:
        return _warn(
            name,
            f"evaluation rows also in train ({shown}) exceed "
            f"diagnostics.duplicate_fraction={cfg.duplicate_fraction}; "
            "de-duplicate the data or split by group",
            **evidence,
        )
    return _ok(name, f"rows shared with train: {shown}", **evidence)


def leakage_feature(
    X: pd.DataFrame,
    y: np.ndarray,
    task: str,
    positive_label: Any,
    cfg: Any,
) -> Diagnostic:
    """A single training feature that alone predicts the target."""
    name = "leakage_feature"
    found = {col: _association(X[col], y, task, positive_label) for col in X}
    scores = {c: s for c, s in found.items() if s is not None}
    if not scores:
        return _ok(name, "no feature could be scored", scores={})
    best = max(scores, key=lambda c: scores[c])
    evidence = {"scores": scores, "best": best}
    if scores[best] >= cfg.feature_score:
        suspects = sorted(c for c, s in scores.items() if s >= cfg.feature_score)
        return _warn(
            name,
            f"feature(s) {suspects} alone predict the target (score "
            f"{scores[best]:.3f} >= diagnostics.feature_score={cfg.feature_score}); "
            f"drop them with dataset.drop=[{','.join(suspects)}] if they copy the "
            "target",
            **evidence,
        )
    return _ok(
        name, f"strongest single feature {best!r}: {scores[best]:.3f}", **evidence
    )


def _association(
    col: pd.Series, y: np.ndarray, task: str, positive_label: Any
) -> float | None:
    """How well one feature alone predicts the target, in [0, 1]."""
    mask = col.notna().to_numpy()
    if mask.sum() < 3:
        return None
    values, target = col[mask], y[mask]
    numeric = pd.api.types.is_numeric_dtype(values)
    n_unique = values.nunique()
    if n_unique < 2:
        return None
    # Few distinct values: how purely each value determines the target.
    if not numeric or n_unique <= max(10, len(values) // 20):
        if n_unique > max(10, len(values) // 10):
            return None  # free text: every value would look "pure"
        return _purity(values.astype(str).to_numpy(), target, task)
    if task == "regression":
        corr = np.corrcoef(values.to_numpy(dtype=float), target.astype(float))[0, 1]
        return float(abs(corr)) if np.isfinite(corr) else None
    if task == "binary":
        auc = _auc(target == positive_label, values.to_numpy(dtype=float))
        return None if auc is None else max(auc, 1 - auc)
    return None


def _auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties given half credit.

    Equal to scikit-learn's ``roc_auc_score``; one call per feature, so it
    avoids that function's input validation, which dominated this check.
    """
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _purity(values: np.ndarray, target: np.ndarray, task: str) -> float:
    frame = pd.DataFrame({"v": values, "t": target})
    if task == "regression":
        # Share of target variance explained by the feature's groups.
        total = frame["t"].astype(float).var(ddof=0)
        if not total:
            return 0.0
        within = frame.groupby("v")["t"].transform("mean").astype(float)
        return float(1 - ((frame["t"] - within) ** 2).mean() / total)
    counts = frame.groupby(["v", "t"]).size()
    majority = counts.groupby(level=0).max().sum()
    return float(majority / len(frame))


def leakage_time(time: pd.Series, parts: dict[str, np.ndarray]) -> Diagnostic:
    """Training rows later than the earliest evaluation row."""
    name = "leakage_time"
    values = time.to_numpy()
    train = values[parts["train"]]
    first_eval = min(values[parts[s]].min() for s in ("val", "test"))
    later = int((train > first_eval).sum())
    evidence = {
        "train_rows_after_first_eval_row": later,
        "first_eval_time": str(first_eval),
        "last_train_time": str(train.max()),
    }
    if later:
        return _warn(
            name,
            f"{later} training rows are later than the first evaluation row "
            f"({first_eval}); use split=time for time-ordered data",
            **evidence,
        )
    return _ok(name, "every training row precedes the evaluation rows", **evidence)


def near_perfect(metric: str, value: float, maximize: bool, cfg: Any) -> Diagnostic:
    """A bounded test score at or above ``diagnostics.near_perfect``."""
    name = "near_perfect"
    evidence = {"metric": metric, "value": value}
    if maximize and np.isfinite(value) and value >= cfg.near_perfect:
        return _warn(
            name,
            f"test {metric} = {value:.4f} is near perfect (>= "
            f"diagnostics.near_perfect={cfg.near_perfect}); check for leakage",
            **evidence,
        )
    return _ok(name, f"test {metric} = {value:.4f}", **evidence)
