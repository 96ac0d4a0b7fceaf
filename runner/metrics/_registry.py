"""Every metric the runner knows: names, definitions, directions, suites."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from runner.metrics._types import (
    SUITE_SETTING,
    TASKS,
    Direction,
    MetricDef,
    Needs,
    Task,
    UnknownMetricError,
)

#: Version of the definition texts; bump it when a formula or 0/0 rule changes
#: without its text changing (an implementation fix).
DEFINITIONS_VERSION = "1"

_CLS = frozenset({"binary", "multiclass"})
_BIN = frozenset({"binary"})
_MC = frozenset({"multiclass"})
_REG = frozenset({"regression"})

_ZD = "0/0 takes metrics.zero_division (default nan) and warns."
_PROBA = "Needs probabilities: skipped, with a warning, for decision_function scores."


def _def(
    name: str,
    definition: str,
    direction: Direction,
    tasks: frozenset[str],
    needs: Needs = "labels",
    per_class: bool = False,
) -> MetricDef:
    return MetricDef(name, definition, direction, tasks, needs, per_class)


def _averaged(stat: str, ratio: str, undefined: str) -> list[MetricDef]:
    """The macro, weighted, micro and per-class variants of a multiclass ratio."""
    zd = f"A class whose ratio is 0/0 ({undefined}) takes metrics.zero_division"
    return [
        _def(
            f"{stat}_macro",
            f"Unweighted mean over classes c of {ratio}. {zd}; with nan (the "
            "default) it is left out of the mean. Warns naming the class.",
            "maximize",
            _MC,
        ),
        _def(
            f"{stat}_weighted",
            f"Mean over classes c of {ratio}, weighted by support (rows whose "
            f"true label is c). {zd}; with nan it is left out and the weights "
            "renormalised (their plain mean if all left have zero support).",
            "maximize",
            _MC,
        ),
        _def(
            f"{stat}_micro",
            f"{ratio} with TP, FP, FN summed over classes first; equals accuracy "
            "since every label is one of the classes. Defined for any n > 0.",
            "maximize",
            _MC,
        ),
        _def(
            f"{stat}_per_class",
            f"Logs {stat}.<label> = {ratio} for each class c, <label> = "
            f"safe_key(c), in the order of classes. {zd} and warns.",
            "maximize",
            _MC,
            per_class=True,
        ),
    ]


_DEFINITIONS: list[MetricDef] = [
    _def(
        "accuracy",
        "(TP + TN) / n; multiclass: trace of the confusion matrix / n. Defined "
        "for any n > 0. Warns (accuracy paradox, see metrics.primary) when it "
        "is not above the majority-class baseline max_c(support_c) / n.",
        "maximize",
        _CLS,
    ),
    _def(
        "precision",
        "TP / (TP + FP) of the positive class (dataset.positive_label). 0/0 "
        f"(no predicted positives) {_ZD}",
        "maximize",
        _BIN,
    ),
    _def(
        "recall",
        "TP / (TP + FN) of the positive class (dataset.positive_label). 0/0 "
        f"(no positive rows in y_true) {_ZD}",
        "maximize",
        _BIN,
    ),
    _def(
        "f1",
        "2 TP / (2 TP + FP + FN) of the positive class, the harmonic mean of "
        "precision and recall. 0/0 (no true and no predicted positives) "
        f"{_ZD}",
        "maximize",
        _BIN,
    ),
    _def(
        "specificity",
        "TN / (TN + FP), the recall of the negative class. 0/0 (no negative "
        f"rows in y_true) {_ZD}",
        "maximize",
        _BIN,
    ),
    _def(
        "balanced_accuracy",
        "Mean of per-class recall TP_c / (TP_c + FN_c) over the classes present "
        "in y_true (binary: mean of recall and specificity). A class absent "
        "from y_true is left out of the mean, with a warning.",
        "maximize",
        _CLS,
    ),
    _def(
        "mcc",
        "Matthews correlation (c n - t.p) / sqrt((n^2 - p.p) (n^2 - t.t)), c = "
        "correct rows, t and p = per-class true and predicted counts; binary: "
        "(TP TN - FP FN) / sqrt((TP + FP) (TP + FN) (TN + FP) (TN + FN)). 0/0 "
        f"(y_true or y_pred holds a single class) {_ZD}",
        "maximize",
        _CLS,
    ),
    _def(
        "tp",
        "Rows whose true and predicted labels both equal dataset.positive_label "
        "(boolean masks, never the order of a flattened matrix).",
        "maximize",
        _BIN,
    ),
    _def(
        "fp",
        "Rows predicted as dataset.positive_label whose true label is the other class.",
        "minimize",
        _BIN,
    ),
    _def(
        "tn",
        "Rows whose true and predicted labels are both the non-positive class.",
        "maximize",
        _BIN,
    ),
    _def(
        "fn",
        "Rows whose true label is dataset.positive_label, predicted as the other "
        "class.",
        "minimize",
        _BIN,
    ),
    _def(
        "roc_auc",
        "Area under the ROC curve of the positive-class score: P(score of a "
        "positive > score of a negative) + P(tie) / 2, i.e. the trapezoid over "
        "one point per distinct score, as scikit-learn. Probabilities or "
        "decision_function. nan, with a warning, when y_true holds one class.",
        "maximize",
        _BIN,
        "scores",
    ),
    _def(
        "pr_auc",
        "Average precision of the positive-class score: sum over distinct "
        "thresholds of (R_i - R_(i-1)) P_i, not interpolated (scikit-learn's "
        "average_precision_score). nan, with a warning, when y_true has no "
        "positive row.",
        "maximize",
        _BIN,
        "scores",
    ),
    _def(
        "log_loss",
        "-mean(log p), p = predicted probability of the row's true class "
        "(binary: score for positive rows, 1 - score otherwise), clipped to "
        "[eps, 1 - eps], eps = 2.2e-16; every class of classes counts, present "
        f"in y_true or not. {_PROBA}",
        "minimize",
        _CLS,
        "proba",
    ),
    _def(
        "brier",
        "Binary: mean((p - y)^2), p = probability of the positive class, y = 1 "
        "for positive rows. Multiclass: mean over rows of sum_c (p_c - [y = "
        f"c])^2, halved for two classes (scikit-learn's convention). {_PROBA}",
        "minimize",
        _CLS,
        "proba",
    ),
    *_averaged("precision", "TP_c / (TP_c + FP_c)", "class never predicted"),
    *_averaged("recall", "TP_c / (TP_c + FN_c)", "class absent from y_true"),
    *_averaged(
        "f1", "2 TP_c / (2 TP_c + FP_c + FN_c)", "class neither true nor predicted"
    ),
    _def(
        "support_per_class",
        "Logs support.<label> = number of rows whose true label is c, for each "
        "class c, <label> = safe_key(c). Describes the data, not the model.",
        "none",
        _MC,
        per_class=True,
    ),
    _def(
        "roc_auc_ovr",
        "Unweighted mean over classes c of the one-vs-rest ROC AUC of column c "
        "of scores (class c against all others, ties as in roc_auc). Classes "
        "absent from y_true are left out, with a warning; nan when y_true "
        "holds one class. Probabilities or decision_function.",
        "maximize",
        _MC,
        "scores",
    ),
    _def(
        "pr_auc_macro",
        "Unweighted mean over classes c of the one-vs-rest average precision "
        "of column c of scores. Classes absent from y_true are left out, with "
        "a warning.",
        "maximize",
        _MC,
        "scores",
    ),
    _def("mae", "mean(|y - y_hat|).", "minimize", _REG),
    _def("rmse", "sqrt(mean((y - y_hat)^2)).", "minimize", _REG),
    _def(
        "r2",
        "1 - sum((y - y_hat)^2) / sum((y - mean(y))^2). nan, with a warning, "
        "when y_true is constant (a single row included); never forced to 0 "
        "or 1.",
        "maximize",
        _REG,
    ),
    _def("median_ae", "median(|y - y_hat|).", "minimize", _REG),
    _def("max_error", "max(|y - y_hat|).", "minimize", _REG),
    _def(
        "wape",
        "sum(|y - y_hat|) / sum(|y|), a fraction; stays defined when some y "
        "are 0. nan, with a warning, only when every y is 0.",
        "minimize",
        _REG,
    ),
    _def(
        "smape",
        "mean(2 |y - y_hat| / (|y| + |y_hat|)), a fraction in [0, 2]; a row "
        "with y = y_hat = 0 adds 0.",
        "minimize",
        _REG,
    ),
    _def(
        "mape",
        "mean(|y - y_hat| / |y|), a fraction, not a percentage. nan, with a "
        "warning, when any |y| < 2.2e-16 (machine epsilon), where "
        "scikit-learn divides by epsilon instead.",
        "minimize",
        _REG,
    ),
    _def(
        "mape_nonzero",
        "mean(|y - y_hat| / |y|) over the rows with |y| >= 2.2e-16; warns "
        "with the number of rows left out. nan when every y is 0.",
        "minimize",
        _REG,
    ),
]

#: Every metric the runner knows, by name.
REGISTRY: dict[str, MetricDef] = {d.name: d for d in _DEFINITIONS}

_DEFAULT_SUITES: dict[str, tuple[str, ...]] = {
    "binary": (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "specificity",
        "balanced_accuracy",
        "mcc",
        "tp",
        "fp",
        "tn",
        "fn",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
    ),
    "multiclass": (
        "accuracy",
        "balanced_accuracy",
        "mcc",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "precision_micro",
        "recall_micro",
        "f1_micro",
        "precision_per_class",
        "recall_per_class",
        "f1_per_class",
        "support_per_class",
        "roc_auc_ovr",
        "pr_auc_macro",
        "log_loss",
        "brier",
    ),
    "regression": (
        "mae",
        "rmse",
        "r2",
        "median_ae",
        "max_error",
        "wape",
        "smape",
        "mape",
    ),
}

# Names people carry over from scikit-learn or textbooks, mapped to ours so the
# error for a misspelling can point at the right metric.
_ALIASES: dict[str, tuple[str, ...]] = {
    "accuracy_score": ("accuracy",),
    "precision_score": ("precision", "precision_macro"),
    "recall_score": ("recall", "recall_macro"),
    "sensitivity": ("recall", "recall_macro"),
    "tpr": ("recall",),
    "tnr": ("specificity",),
    "f1_score": ("f1", "f1_macro"),
    "balanced_accuracy_score": ("balanced_accuracy",),
    "matthews_corrcoef": ("mcc",),
    "roc_auc_score": ("roc_auc", "roc_auc_ovr"),
    "auc": ("roc_auc", "roc_auc_ovr"),
    "average_precision": ("pr_auc", "pr_auc_macro"),
    "average_precision_score": ("pr_auc", "pr_auc_macro"),
    "brier_score_loss": ("brier",),
    "mean_absolute_error": ("mae",),
    "mean_squared_error": ("rmse",),
    "root_mean_squared_error": ("rmse",),
    "r2_score": ("r2",),
    "median_absolute_error": ("median_ae",),
    "mean_absolute_percentage_error": ("mape",),
    "confusion_matrix": ("tp", "fp", "tn", "fn"),
}
_AVERAGING_SUFFIXES = ("_macro", "_weighted", "_micro", "_per_class", "_ovr")


def check_task(task: object) -> Task:
    """Return ``task`` if it is a known task, else raise with a close match."""
    for known in TASKS:
        if task == known:
            return known
    close = difflib.get_close_matches(str(task), TASKS, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"unknown task {task!r}.{hint} Use one of {', '.join(TASKS)}.")


def task_metrics(task: str) -> list[str]:
    """Names in :data:`REGISTRY` that apply to ``task``, in registry order."""
    return [name for name, d in REGISTRY.items() if task in d.tasks]


def suggest(name: str, candidates: list[str]) -> list[str]:
    """Close matches for a misspelled metric name, best first (at most 4)."""
    key = name.strip().lower().removeprefix("neg_")
    aliases = difflib.get_close_matches(key, list(_ALIASES), n=1, cutoff=0.85)
    found = [c for c in _ALIASES.get(key, ()) if c in candidates]
    found += [c for a in aliases for c in _ALIASES[a] if c in candidates]
    family = key.partition(".")[0] + "_per_class"
    if "." in key and family in candidates:
        found.append(family)  # a per-class key such as "precision.cat"
    for suffix in _AVERAGING_SUFFIXES:
        base = key.removesuffix(suffix)
        if base != key and base in candidates:
            found.append(base)
    found += [c for c in candidates if c.startswith(key + "_")]
    found += difflib.get_close_matches(key, candidates, n=3, cutoff=0.6)
    return list(dict.fromkeys(found))[:4]


def default_suite(task: str, *, has_proba: bool = True) -> list[str]:
    """The metric names logged for ``task`` when ``metrics.suite`` is null.

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
        The learning task.
    has_proba : bool, default=True
        False leaves out the metrics that need probabilities (``log_loss``,
        ``brier``), for models without ``predict_proba``.

    Returns
    -------
    list of str
        Metric names in logging order.

    Raises
    ------
    ValueError
        If ``task`` is not a known task.

    Examples
    --------
    >>> default_suite("regression")
    ['mae', 'rmse', 'r2', 'median_ae', 'max_error', 'wape', 'smape', 'mape']
    """
    names = _DEFAULT_SUITES[check_task(task)]
    return [n for n in names if has_proba or REGISTRY[n].needs != "proba"]


def validate_suite(
    names: Iterable[str], task: str, has_proba: bool | None = None
) -> None:
    """Check a metric suite before any data is loaded or model trained.

    Parameters
    ----------
    names : iterable of str
        Metric names, as in ``metrics.suite``.
    task : {"binary", "multiclass", "regression"}
        The learning task.
    has_proba : bool or None, default=None
        Whether the model has ``predict_proba``. False rejects metrics that
        need probabilities; None skips that check.

    Raises
    ------
    UnknownMetricError
        If a name is not in :data:`REGISTRY`; the message lists close matches.
    ValueError
        If ``task`` is unknown, ``names`` is a bare string, a metric does not
        apply to ``task``, or it needs probabilities the model cannot give.

    Examples
    --------
    >>> validate_suite(["accuracy", "f1_macro"], "multiclass")
    >>> validate_suite(["f1_scor"], "binary")
    Traceback (most recent call last):
    ...
    runner.metrics._types.UnknownMetricError: unknown metric 'f1_scor' ...
    """
    task = check_task(task)
    for name in _as_names(names):
        _check_name(name, task, has_proba)


def _as_names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        raise ValueError(
            f"{SUITE_SETTING} must be a list of metric names, got the string "
            f"{names!r}. Write it as a list, e.g. {SUITE_SETTING}=[{names}]."
        )
    listed = list(names)
    for name in listed:
        if not isinstance(name, str):
            raise ValueError(
                f"{SUITE_SETTING} must hold metric names (strings), got "
                f"{name!r} of type {type(name).__name__}. Quote the name."
            )
    return listed


def _check_name(name: str, task: Task, has_proba: bool | None) -> None:
    known = task_metrics(task)
    definition = REGISTRY.get(name)
    if definition is None:
        raise UnknownMetricError(name, task, suggest(name, known), known)
    if task not in definition.tasks:
        close = suggest(name, known)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"metric {name!r} does not apply to task '{task}' (it is for "
            f"{', '.join(sorted(definition.tasks))}).{hint} Choose from the "
            f"{task} metrics in {SUITE_SETTING}: {', '.join(known)}."
        )
    if has_proba is False and definition.needs == "proba":
        raise ValueError(
            f"metric {name!r} needs predicted probabilities, but the model has "
            f"no predict_proba. Remove it from {SUITE_SETTING}, or use a model "
            "that gives probabilities (e.g. wrap it in CalibratedClassifierCV)."
        )


def suite_fingerprint(names: Iterable[str], settings: Mapping[str, Any]) -> str:
    """Fingerprint of what a suite's logged numbers mean.

    Two runs whose fingerprints agree computed their metrics with the same
    definitions and settings, so their values are comparable. The order of
    ``names`` and of ``settings`` does not matter.

    Parameters
    ----------
    names : iterable of str
        Metric names of the suite.
    settings : mapping
        Settings the values depend on, e.g. ``{"zero_division": nan,
        "positive_label": ">50K", "threshold": 0.5}``. Values must be JSON
        types or numpy scalars; anything else enters through its ``repr``.

    Returns
    -------
    str
        First 16 hex digits of a SHA-256 over :data:`DEFINITIONS_VERSION`,
        each metric's definition, direction, tasks and needs, and the
        settings.

    Raises
    ------
    UnknownMetricError
        If a name is not in :data:`REGISTRY`.
    """
    listed = _as_names(names)
    metrics: dict[str, Any] = {}
    for name in sorted(set(listed)):
        definition = REGISTRY.get(name)
        if definition is None:
            known = list(REGISTRY)
            raise UnknownMetricError(name, None, suggest(name, known), known)
        metrics[name] = [
            definition.definition,
            definition.direction,
            sorted(definition.tasks),
            definition.needs,
        ]
    payload = {
        "version": DEFINITIONS_VERSION,
        "metrics": metrics,
        "settings": dict(settings),
    }
    text = json.dumps(payload, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_default(value: object) -> object:
    # numpy scalars and arrays must hash like the Python values they equal.
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return repr(value)
