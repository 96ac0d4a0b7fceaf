"""Run the diagnostics of :mod:`runner.diagnostics` on a finished fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runner import diagnostics as dg

#: Baseline metrics logged next to the model's, per task.
_BASELINE_METRICS = {
    "binary": ["accuracy", "balanced_accuracy", "recall", "f1", "mcc"],
    "multiclass": ["accuracy", "balanced_accuracy", "f1_macro", "mcc"],
    "regression": ["mae", "rmse", "r2"],
}


def diagnose(
    plan: Any, cfg: Any, evaluations: dict[str, Any]
) -> tuple[list[dg.Diagnostic], dict[str, float]]:
    """All diagnostics that apply to this run, and the metrics they add.

    The added metrics are the baseline's (``<split>/baseline_<name>``), the
    training class balance (``data/class_share.<label>``) and the
    train/validation gap of the primary metric (``gap/<primary>``).
    """
    from runner.metrics import REGISTRY

    data = plan.data
    found: list[dg.Diagnostic] = []
    base = _data_diagnostics(plan, cfg)
    extra = dict(base.extra)

    if data.task != "regression":
        found.append(
            dg.accuracy_paradox(
                evaluations["test"].values,
                base.baseline["test"],
                extra["data/majority_share"],
                cfg.diagnostics,
            )
        )

    maximize = REGISTRY[plan.primary].direction == "maximize"
    train = evaluations["train"].values.get(plan.primary, np.nan)
    val = evaluations["val"].values.get(plan.primary, np.nan)
    over, gap = dg.overfitting(plan.primary, train, val, maximize, cfg.diagnostics)
    found.append(over)
    extra[f"gap/{plan.primary}"] = gap

    found.extend(base.found)
    test = evaluations["test"].values.get(plan.primary, np.nan)
    bounded = maximize and plan.primary not in ("tp", "tn")
    found.append(dg.near_perfect(plan.primary, test, bounded, cfg.diagnostics))
    return found, extra


@dataclass(frozen=True)
class _DataFindings:
    """What the diagnostics find in the data and split alone, whatever the model."""

    baseline: dict[str, dict[str, float]]
    extra: dict[str, float]
    found: list[dg.Diagnostic]


def _data_diagnostics(plan: Any, cfg: Any) -> _DataFindings:
    """Baseline, class balance and leakage checks, once per data and split.

    Kept with the data (``Dataset.memo``): the jobs of a sweep over model
    settings share them.
    """
    import hashlib

    from omegaconf import OmegaConf

    rows = hashlib.sha256()
    for part in plan.split.parts().values():
        rows.update(np.ascontiguousarray(part).tobytes() + b"|")
    settings = OmegaConf.to_container(cfg.diagnostics)
    key = ("diagnostics", rows.hexdigest(), repr(settings), cfg.metrics.zero_division)
    memo = plan.data.memo
    if key not in memo:
        memo[key] = _find_in_data(plan, cfg)
    return memo[key]


def _find_in_data(plan: Any, cfg: Any) -> _DataFindings:
    from runner.metrics import safe_key

    data, parts = plan.data, plan.split.parts()
    y = data.y.to_numpy()
    extra: dict[str, float] = {}
    baseline = _baseline(plan, y, parts, cfg)
    for split, values in baseline.items():
        for key, value in values.items():
            extra[f"{split}/baseline_{key}"] = value
    if data.task != "regression":
        balance = dg.class_balance(y[parts["train"]], data.classes)
        for label, share in balance.items():
            extra[f"data/class_share.{safe_key(str(label))}"] = share
        extra["data/majority_share"] = max(balance.values())

    found = [dg.leakage_duplicates(data.X, parts, cfg.diagnostics)]
    X_train = data.X.iloc[parts["train"]]
    found.append(
        dg.leakage_feature(
            X_train, y[parts["train"]], data.task, data.positive_label, cfg.diagnostics
        )
    )
    if data.time is not None:
        found.append(dg.leakage_time(data.time, parts))
    return _DataFindings(baseline, extra, found)


def _baseline(
    plan: Any, y: np.ndarray, parts: dict[str, np.ndarray], cfg: Any
) -> dict[str, dict[str, float]]:
    """Majority class (or training mean) predicted for every row of a split."""
    from runner.metrics import REGISTRY, evaluate

    data = plan.data
    train = y[parts["train"]]
    suite = [m for m in _BASELINE_METRICS[data.task] if m in REGISTRY]
    out = {}
    for split in ("val", "test"):
        y_true = y[parts[split]]
        if data.task == "regression":
            y_pred = np.full(len(y_true), float(np.mean(train.astype(float))))
        else:
            labels, counts = np.unique(train, return_counts=True)
            majority = labels[np.argmax(counts)]
            y_pred = np.full(len(y_true), majority, dtype=object)
        result = evaluate(
            data.task,
            y_true,
            y_pred,
            classes=data.classes,
            positive_label=data.positive_label,
            suite=suite,
            zero_division=float(cfg.metrics.zero_division),
        )
        out[split] = {k: float(v) for k, v in result.values.items()}
    return out
