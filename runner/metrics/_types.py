"""Value types shared by the metric engine: definitions, results, warnings."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Task = Literal["binary", "multiclass", "regression"]
Direction = Literal["maximize", "minimize", "none"]
Needs = Literal["labels", "scores", "proba"]

TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")

#: Config keys named by :class:`MetricWarning.setting`.
ZERO_DIVISION_SETTING = "metrics.zero_division"
SUITE_SETTING = "metrics.suite"
PRIMARY_SETTING = "metrics.primary"


@dataclass(frozen=True)
class MetricDef:
    """Definition of one metric the runner can log.

    Parameters
    ----------
    name : str
        Name in ``metrics.suite`` and, unless ``per_class``, the logged key.
    definition : str
        Formula, averaging, positive label and 0/0 rule, in words. It enters
        :func:`suite_fingerprint`, so editing it changes every fingerprint.
    direction : {"maximize", "minimize", "none"}
        Which way is better; "none" for quantities that describe the data
        (``support``), not the model.
    tasks : frozenset of str
        Tasks the metric applies to: "binary", "multiclass", "regression".
    needs : {"labels", "scores", "proba"}
        Model output it is computed from: predicted labels, any ranking score
        (probability or decision function) or probabilities.
    per_class : bool, default=False
        True for a family that logs one key per class, ``<prefix>.<label>``.
    """

    name: str
    definition: str
    direction: Direction
    tasks: frozenset[str]
    needs: Needs
    per_class: bool = False

    @property
    def key_prefix(self) -> str:
        """Prefix of the per-class keys, e.g. ``precision`` for ``precision.2``."""
        return self.name.removesuffix("_per_class")


@dataclass(frozen=True)
class MetricWarning:
    """A metric whose value is a fallback or needs a caveat.

    Parameters
    ----------
    metric : str
        Logged key the warning is about (``precision``, ``recall.cat``...).
    cause : str
        What in the data made it ill-defined, e.g. "no predicted positives".
    setting : str
        Config key that controls the fallback or avoids the warning.
    value : float
        Value that was logged (the fallback), or nan for a skipped metric.
    """

    metric: str
    cause: str
    setting: str
    value: float

    def __str__(self) -> str:
        return (
            f"{self.metric}: {self.cause}; logged {self.value!r} (see {self.setting})"
        )


@dataclass(frozen=True)
class ConfusionTable:
    """Confusion matrix with its label order made explicit.

    Parameters
    ----------
    labels : tuple
        Class labels in the order of ``classes`` given to :func:`evaluate`.
    counts : ndarray of shape (k, k)
        ``counts[i, j]`` is the number of rows whose true label is
        ``labels[i]`` and whose predicted label is ``labels[j]``.
    """

    labels: tuple[object, ...]
    counts: NDArray[np.int64]

    def to_csv(self) -> str:
        """Render as CSV: a header of predicted labels, one row per true label."""
        out = io.StringIO()
        header = ["true\\predicted", *map(str, self.labels)]
        out.write(",".join(_csv_cell(h) for h in header) + "\n")
        for label, row in zip(self.labels, self.counts, strict=True):
            cells = [_csv_cell(str(label)), *map(str, row.tolist())]
            out.write(",".join(cells) + "\n")
        return out.getvalue()


def _csv_cell(text: str) -> str:
    """Quote a CSV cell when it holds a separator, a quote or a newline."""
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Parameters
    ----------
    values : dict of str to float
        Logged key to value, in suite order (per-class keys in class order).
    warnings : list of MetricWarning
        One entry per ill-defined or skipped value.
    confusion : ConfusionTable or None
        The confusion matrix every count metric was derived from; None for
        regression.
    """

    values: dict[str, float] = field(default_factory=dict)
    warnings: list[MetricWarning] = field(default_factory=list)
    confusion: ConfusionTable | None = None


class UnknownMetricError(ValueError):
    """A metric name that is not in :data:`REGISTRY`.

    Parameters
    ----------
    name : str
        The name that was given.
    task : str or None
        Task the suite was for, or None when checked for every task.
    suggestions : list of str
        Close matches, best first.
    known : list of str
        Every valid name (for the task when given).
    """

    def __init__(
        self,
        name: str,
        task: str | None,
        suggestions: list[str],
        known: list[str],
    ) -> None:
        self.name = name
        self.task = task
        self.suggestions = suggestions
        self.known = known
        where = f" for task '{task}'" if task else ""
        hint = ""
        if suggestions:
            hint = " Did you mean " + " or ".join(f"'{s}'" for s in suggestions) + "?"
        super().__init__(
            f"unknown metric {name!r}{where}.{hint} Fix the name in "
            f"{SUITE_SETTING}; valid names: {', '.join(known)}."
        )
