"""The runner's metric engine.

Every metric the runner can log is registered in :data:`REGISTRY` with its
definition (formula, averaging, positive label, 0/0 rule) and direction.
:func:`evaluate` computes a suite of them on one evaluation split:

- count metrics of a classification task come from one confusion matrix,
  built in one ``np.bincount`` pass over the encoded labels; binary TP, FP,
  TN and FN from boolean masks against the positive label;
- ranking metrics (ROC AUC, average precision) from one sort of the scores,
  with ties handled as scikit-learn does;
- an ill-defined value (0/0, a single class, a constant target, zero
  targets for MAPE) is logged as its declared fallback, never a silent 0,
  and reported as a :class:`MetricWarning` naming the config key that
  controls it.

Logged keys are MLflow-safe (:func:`safe_key`); per-class families log
``<stat>.<label>``. Importing this package imports numpy only.
"""

from runner.metrics._evaluate import evaluate
from runner.metrics._keys import safe_key
from runner.metrics._labels import validate_labels
from runner.metrics._registry import (
    DEFINITIONS_VERSION,
    REGISTRY,
    default_suite,
    suite_fingerprint,
    validate_suite,
)
from runner.metrics._threshold import tune_threshold
from runner.metrics._types import (
    ConfusionTable,
    Evaluation,
    MetricDef,
    MetricWarning,
    UnknownMetricError,
)

__all__ = [
    "DEFINITIONS_VERSION",
    "REGISTRY",
    "ConfusionTable",
    "Evaluation",
    "MetricDef",
    "MetricWarning",
    "UnknownMetricError",
    "default_suite",
    "evaluate",
    "safe_key",
    "suite_fingerprint",
    "tune_threshold",
    "validate_labels",
    "validate_suite",
]
