"""Structured-config schema of the runner.

Every YAML file under ``conf/`` is merged onto these dataclasses when Hydra
composes the config, so a misspelled key or a value of the wrong type fails at
composition time, before any data is read.  The model node is the exception:
its keys are the scikit-learn constructor's own arguments, so it is a free
mapping checked against the estimator's signature in :mod:`runner.models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class PreprocessConfig:
    # Fill missing values: "auto" (unless the model handles them), true, false.
    impute: Any = "auto"
    # Standardise numeric columns: "auto" (when the model needs it), true, false.
    scale: Any = "auto"
    # One-hot encode text columns; categories rarer than this share one column.
    max_categories: int = 20
    # Infinite values: "missing" treats them as missing, "error" stops the run.
    inf: str = "missing"


@dataclass
class DatasetConfig:
    # Where the data come from: "sklearn" (a bundled dataset) or "csv".
    source: str = MISSING
    # Name of a bundled scikit-learn dataset (source=sklearn).
    name: str | None = None
    # CSV file (source=csv); relative paths start from the launch folder.
    path: str | None = None
    # Target column of the CSV (its 0-based position when header=false).
    target: Any = None
    # Positive class of a binary target; required, never guessed.
    positive_label: Any = None
    # binary | multiclass | regression; null infers it from the target.
    task: str | None = None
    # Columns left out of the features.
    drop: list[Any] = field(default_factory=list)
    # Extra strings that mean "missing".
    na_values: list[str] = field(default_factory=list)
    # Whether the first line of the CSV names the columns.
    header: bool = True
    # CSV field separator.
    sep: str = ","
    # Thousands separator inside numbers, e.g. ",".
    thousands: str | None = None
    # Drop rows with a missing target instead of failing.
    drop_missing_target: bool = False
    # Column holding the time of each row (enables leakage checks, split=time).
    time_column: str | None = None
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


@dataclass
class SplitConfig:
    # "random" (stratified for classification) or "time" (by dataset.time_column).
    method: str = "random"
    # Fractions of all rows held out for validation and for test.
    val_size: float = 0.2
    test_size: float = 0.2
    # Keep class proportions in every split (classification only).
    stratify: bool = True


@dataclass
class MetricsConfig:
    # Metric names from runner.metrics.REGISTRY; null: the task's standard suite.
    suite: list[str] | None = None
    # Metric that ranks runs; null: f1 (binary), f1_macro, rmse (regression).
    primary: str | None = None
    # Value logged for an undefined ratio (0/0).
    zero_division: float = float("nan")
    # Probability of the positive class from which a prediction is positive.
    threshold: float = 0.5
    # Metric (e.g. f1) whose best threshold on the validation rows replaces
    # `threshold`; null keeps `threshold`.
    tune_threshold: str | None = None


@dataclass
class TrackingConfig:
    # MLflow tracking URI; null: sqlite store outputs/mlflow.db of the project.
    uri: str | None = None
    # MLflow experiment name.
    experiment: str = "runner"
    # Log the fitted pipeline as an MLflow model (skops format).
    log_model: bool = True
    # Draw pictures; false never imports matplotlib.
    plots: bool = True
    # Explicit run name; null derives one from the config.
    run_name: str | None = None


@dataclass
class DiagnosticsConfig:
    # Run the diagnostics at all.
    enabled: bool = True
    # Accuracy must beat the majority baseline's by more than this.
    paradox_margin: float = 0.01
    # Majority-class share from which the classes count as imbalanced.
    imbalance: float = 0.75
    # On imbalanced classes, warn below these (recall: of the positive class).
    paradox_min_recall: float = 0.5
    paradox_min_balanced_accuracy: float = 0.6
    paradox_min_mcc: float = 0.2
    # Largest train-minus-val gap of a bounded primary metric (f1, accuracy).
    overfit_gap: float = 0.1
    # Largest gap of an error metric (rmse), as a fraction of its val value.
    overfit_relative_gap: float = 0.5
    # Largest fraction of val/test rows that may repeat a training row.
    duplicate_fraction: float = 0.05
    # Single-feature score (ROC AUC, |corr|, purity) that flags a leak.
    feature_score: float = 0.99
    # Test score (bounded metrics) that is suspiciously perfect.
    near_perfect: float = 0.999


@dataclass
class RunnerConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: dict[str, Any] = field(default_factory=dict)
    split: SplitConfig = field(default_factory=SplitConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    # Seed of every random choice: split, model, numpy.
    seed: int = 0
    # Class-path prefixes a config may name.
    allow_targets: list[str] = field(default_factory=lambda: ["sklearn."])


def register() -> None:
    """Register the schema in Hydra's ConfigStore under the name ``schema``."""
    ConfigStore.instance().store(name="schema", node=RunnerConfig)


def schema_keys(node: type = RunnerConfig, prefix: str = "") -> list[str]:
    """Dotted paths of every key the schema declares (free mappings excluded)."""
    keys = []
    for f in fields(node):  # type: ignore[arg-type]
        path = f"{prefix}{f.name}"
        keys.append(path)
        child = _DATACLASS_FIELDS.get(f"{node.__name__}.{f.name}")
        if child is not None:
            keys.extend(schema_keys(child, path + "."))
    return keys


def unknown_keys(config: dict[str, Any]) -> list[str]:
    """Keys of a resolved config that the schema does not declare.

    Hydra's ``+key=value`` adds keys past the schema; they would be silently
    ignored, so the runner rejects them.  Keys under ``model`` are checked
    against the estimator instead.
    """
    known = set(schema_keys())
    found = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path not in known:
                found.append(path)
            elif isinstance(value, dict) and path != "model":
                walk(value, path + ".")

    walk(config, "")
    return found


_DATACLASS_FIELDS: dict[str, type] = {
    "RunnerConfig.dataset": DatasetConfig,
    "RunnerConfig.split": SplitConfig,
    "RunnerConfig.metrics": MetricsConfig,
    "RunnerConfig.tracking": TrackingConfig,
    "RunnerConfig.diagnostics": DiagnosticsConfig,
    "DatasetConfig.preprocess": PreprocessConfig,
}
