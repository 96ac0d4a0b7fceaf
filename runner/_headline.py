"""Headline and primary metrics per task: what summaries show and runs rank by.

Kept apart from the training code so that reading runs (``runner.compare``)
does not import scikit-learn.
"""

from __future__ import annotations

#: Headline metrics printed in a run's summary and compared by default.
HEADLINE = {
    "binary": ["accuracy", "precision", "recall", "f1", "roc_auc"],
    "multiclass": ["accuracy", "f1_macro", "balanced_accuracy", "log_loss"],
    "regression": ["mae", "rmse", "r2"],
}
#: Metric that ranks runs when the config names none.
DEFAULT_PRIMARY = {"binary": "f1", "multiclass": "f1_macro", "regression": "rmse"}
