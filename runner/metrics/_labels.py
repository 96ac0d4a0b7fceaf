"""Checking class labels and encoding them as integer codes in one pass."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from runner.metrics._keys import safe_key
from runner.metrics._registry import check_task

Codes = NDArray[np.integer[Any]]

# A lookup table indexed by label value beats a binary search as long as it is
# not much larger than the data itself.
_MIN_TABLE = 1 << 16


@dataclass(frozen=True)
class ClassSpec:
    """Validated classes: the array to encode against and how to name them."""

    labels: NDArray[Any]
    items: tuple[object, ...]
    keys: tuple[str, ...]
    positive: int | None

    @property
    def k(self) -> int:
        return len(self.items)


def validate_labels(task: str, classes: Any, positive_label: Any = None) -> None:
    """Check classes and positive label before training, as evaluate will.

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
        The learning task.
    classes : sequence or None
        Every class label, in the model's order (``model.classes_``).
    positive_label : object, default=None
        The positive class, required for "binary".

    Raises
    ------
    ValueError
        If classes are missing, too few, duplicated or map to the same metric
        key, the positive label is missing or not one of the classes, or
        either is given for regression.
    """
    if check_task(task) == "regression":
        check_no_classes(classes, positive_label)
    else:
        class_spec(task, classes, positive_label)


def check_no_classes(classes: Any, positive_label: Any) -> None:
    """Reject class arguments for regression, where they would be ignored."""
    if classes is not None or positive_label is not None:
        raise ValueError(
            "classes and positive_label are only for classification, but the "
            f"task is 'regression' (got classes={classes!r}, positive_label="
            f"{positive_label!r}). Leave them unset for regression."
        )


def class_spec(task: str, classes: Any, positive_label: Any) -> ClassSpec:
    """Validate ``classes`` and ``positive_label`` for a classification task."""
    labels = _class_array(classes, task)
    items = tuple(labels.tolist())
    _check_unique(items)
    keys = tuple(safe_key(c) for c in items)
    if task == "multiclass":
        _check_keys(items, keys)
    positive = _positive_index(items, positive_label) if task == "binary" else None
    return ClassSpec(labels, items, keys, positive)


def _class_array(classes: Any, task: str) -> NDArray[Any]:
    if classes is None:
        raise ValueError(
            f"classes is required for task '{task}', got None. Pass every class "
            "label in the model's order, e.g. classes=model.classes_."
        )
    labels = np.asarray(classes)
    if not isinstance(classes, np.ndarray) and labels.tolist() != list(classes):
        # numpy turned mixed labels such as [1, "a"] into strings; keep them.
        labels = np.asarray(list(classes), dtype=object)
    wanted = "exactly 2" if task == "binary" else "at least 2"
    count = len(labels) if labels.ndim == 1 else -1
    if labels.ndim != 1 or (count != 2 if task == "binary" else count < 2):
        raise ValueError(
            f"task '{task}' needs {wanted} classes in a 1-D sequence, got "
            f"{classes!r}. Pass model.classes_, or choose the task that matches "
            "the number of classes."
        )
    return labels


def _check_unique(items: tuple[object, ...]) -> None:
    seen: list[object] = []
    for item in items:
        if item in seen:
            raise ValueError(
                f"classes must be distinct, but {item!r} appears twice in "
                f"{list(items)!r}. Pass each class label once (model.classes_)."
            )
        seen.append(item)


def _check_keys(items: tuple[object, ...], keys: tuple[str, ...]) -> None:
    owner: dict[str, object] = {}
    for item, key in zip(items, keys, strict=True):
        if key in owner:
            raise ValueError(
                f"class labels {owner[key]!r} and {item!r} both become the metric "
                f"key suffix {key!r} (see runner.metrics.safe_key), so their "
                "per-class metrics would overwrite each other. Rename one of them "
                "in the target column."
            )
        owner[key] = item


def _positive_index(items: tuple[object, ...], positive_label: Any) -> int:
    if positive_label is None:
        raise ValueError(
            "positive_label is required for binary metrics, got None; the "
            f"classes are {list(items)!r}. Set dataset.positive_label to the "
            "class that precision, recall and F1 should be about."
        )
    for index, item in enumerate(items):
        if item == positive_label:
            return index
    shown = [str(c) for c in items]
    close = difflib.get_close_matches(str(positive_label), shown, n=1, cutoff=0.5)
    hint = f" Did you mean {items[shown.index(close[0])]!r}?" if close else ""
    raise ValueError(
        f"positive_label {positive_label!r} is not one of the classes "
        f"{list(items)!r}.{hint} Set dataset.positive_label to one of them "
        "(mind the type: 1 and '1' differ)."
    )


def as_labels(values: Any, name: str) -> NDArray[Any]:
    """``values`` as a non-empty 1-D array."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence, got shape {array.shape}. "
            "Pass one value per row (flatten a column vector with .ravel())."
        )
    return array


def encode(y: NDArray[Any], spec: ClassSpec, name: str) -> Codes:
    """Integer code of each label: its index in ``spec.items``.

    Raises ValueError naming the labels that are not classes, so that an
    unseen label is never counted silently as some other class.
    """
    classes = spec.labels
    if y.dtype.kind == "b":
        y = y.view(np.uint8)
    elif y.dtype == np.uint64:
        y = y.astype(np.int64)  # uint64 - int64 has no exact common type
    if y.dtype.kind in "iu" and classes.dtype.kind in "iub":
        return _encode_ints(y, classes.astype(np.int64), spec, name)
    if y.dtype.kind == "O" or classes.dtype.kind == "O":
        return _encode_objects(y, spec, name)
    return _encode_search(y, spec, name)


def _encode_ints(
    y: NDArray[Any], classes: NDArray[np.int64], spec: ClassSpec, name: str
) -> Codes:
    lo, hi = int(y.min()), int(y.max())
    first, k = int(classes[0]), len(classes)
    if np.array_equal(classes, np.arange(first, first + k)):
        # Labels already are their codes (0..k-1, the usual case) up to a shift.
        if lo < first or hi >= first + k:
            raise _unknown(y, spec, name)
        return y if first == 0 else y - first
    base = min(lo, int(classes.min()))
    span = max(hi, int(classes.max())) - base + 1
    if span > max(_MIN_TABLE, 4 * y.size):
        return _encode_search(y, spec, name)
    table = np.full(span, k, dtype=np.intp)
    table[classes - base] = np.arange(k)
    codes: Codes = table[y - base]
    if int(codes.max()) == k:
        raise _unknown(y, spec, name)
    return codes


def _encode_search(y: NDArray[Any], spec: ClassSpec, name: str) -> Codes:
    order = np.argsort(spec.labels, kind="stable")
    ordered = spec.labels[order]
    try:
        slots = np.minimum(np.searchsorted(ordered, y), spec.k - 1)
        found = np.asarray(ordered[slots] == y, dtype=bool)
    except TypeError as err:
        raise ValueError(
            f"{name} labels of dtype {y.dtype} cannot be compared with classes "
            f"{list(spec.items)!r}. Pass labels of the same type as the classes "
            "(e.g. both strings or both integers)."
        ) from err
    if found.shape != y.shape or not found.all():
        raise _unknown(y, spec, name)
    return np.asarray(order[slots])


def _encode_objects(y: NDArray[Any], spec: ClassSpec, name: str) -> Codes:
    # Python objects may not be orderable (1 < "x" fails) but are hashable,
    # and a dict lookup uses the same == as the other paths.
    table = {label: code for code, label in enumerate(spec.items)}
    try:
        codes = np.array([table.get(v, spec.k) for v in y.tolist()], dtype=np.intp)
    except TypeError as err:
        raise ValueError(
            f"{name} holds unhashable values (e.g. lists), which cannot be class "
            "labels. Pass one scalar label per row."
        ) from err
    if int(codes.max()) == spec.k:
        raise _unknown(y, spec, name)
    return codes


def _unknown(y: NDArray[Any], spec: ClassSpec, name: str) -> ValueError:
    known = set(spec.items)
    strange: list[object] = []
    for value in dict.fromkeys(y.tolist()):
        if value not in known:
            strange.append(value)
            if len(strange) == 5:
                break
    return ValueError(
        f"{name} contains labels that are not classes: {strange!r}; the classes "
        f"are {list(spec.items)!r}. Pass classes=model.classes_ covering every "
        "label, or drop the rows whose label the model has never seen."
    )
