"""Load a dataset from its config and check that it can serve the task.

A dataset is either one that scikit-learn ships (no file, no network) or a
CSV file of the user's.  Everything that can be wrong with the data (a missing
file, an unknown target column, a single class, missing target values, an
undeclared positive class) is raised here as a :class:`~runner.errors.DataError`
before any model is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runner.errors import ConfigError, DataError, did_you_mean

log = logging.getLogger(__name__)

#: Bundled scikit-learn datasets and the task each one serves.
SKLEARN_DATASETS = {
    "breast_cancer": "binary",
    "iris": "multiclass",
    "wine": "multiclass",
    "diabetes": "regression",
}
TASKS = ("binary", "multiclass", "regression")

# An integer target with at most this many distinct values is a class label.
_MAX_INT_CLASSES = 20
_THOUSANDS_RE = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d+)?$")


@dataclass
class Dataset:
    """Features, target and what the runner inferred about them."""

    X: pd.DataFrame
    y: pd.Series
    task: str
    classes: list[Any] | None
    positive_label: Any
    label: str
    source: str
    digest: str
    file_sha256: str | None = None
    time: pd.Series | None = None
    #: Results that depend only on this data and their settings (splits,
    #: the data's own diagnostics), kept with it: the jobs of a sweep share
    #: one loaded dataset and mostly differ only in the model.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def row_ids(self) -> np.ndarray:
        """0-based position of each row in the original data."""
        return self.X.index.to_numpy()


_CACHE: dict[tuple[Any, ...], Dataset] = {}


def load_dataset(cfg: Any, label: str) -> Dataset:
    """Load and check the dataset described by ``cfg`` (the ``dataset`` node).

    Parameters
    ----------
    cfg : DictConfig
        The composed ``dataset`` node.
    label : str
        Short name of the data for run names (the group choice or file stem).

    Returns
    -------
    Dataset
        The checked data.  Loads are cached per process, keyed by the config
        and the file's size and modification time.

    Raises
    ------
    DataError
        If the file or a column is missing, or the target cannot serve the task.
    """
    key = _cache_key(cfg)
    if key not in _CACHE:
        _CACHE[key] = _load(cfg, label)
    return _CACHE[key]


def _cache_key(cfg: Any) -> tuple[Any, ...]:
    from omegaconf import OmegaConf

    text = OmegaConf.to_yaml(cfg, resolve=True)
    if cfg.source != "csv":
        return (text,)
    path = resolve_path(cfg.path)
    try:
        stat = path.stat()
    except OSError:
        return (text, None)
    return (text, stat.st_size, stat.st_mtime_ns)


def resolve_path(path: str) -> Path:
    """Resolve a user path against the folder the command was started from."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute():
        return p
    try:
        from hydra.core.hydra_config import HydraConfig

        base = Path(HydraConfig.get().runtime.cwd)
    except ValueError:
        base = Path.cwd()
    return (base / p).resolve()


def _load(cfg: Any, label: str) -> Dataset:
    if cfg.source == "sklearn":
        frame, target, source, sha = _read_sklearn(cfg), "target", None, None
        source = f"sklearn:{cfg.name}"
    elif cfg.source == "csv":
        frame, target, source, sha = _read_csv(cfg)
    else:
        raise ConfigError(
            f"dataset.source must be 'sklearn' or 'csv'; got {cfg.source!r}. "
            "Choose a dataset with dataset=<name>."
        )
    return _build(frame, target, cfg, label, source, sha)


def _read_sklearn(cfg: Any) -> pd.DataFrame:
    import sklearn.datasets as skd

    if cfg.name not in SKLEARN_DATASETS:
        raise ConfigError(
            f"dataset.name {cfg.name!r} is not a bundled scikit-learn dataset; "
            f"choose one of {sorted(SKLEARN_DATASETS)}."
            + did_you_mean(cfg.name, SKLEARN_DATASETS)
        )
    bunch = getattr(skd, f"load_{cfg.name}")(as_frame=True)
    frame = bunch.frame.copy()
    if SKLEARN_DATASETS[cfg.name] != "regression":
        # Class names, not codes: the positive class is declared by its name.
        names = np.asarray(bunch.target_names, dtype=object)
        frame["target"] = pd.Series(names[bunch.target.to_numpy()], dtype=object)
    return frame


def _read_csv(cfg: Any) -> tuple[pd.DataFrame, Any, str, str]:
    unset = [k for k in ("path", "target") if cfg.get(k) is None]
    if unset:
        sets = " ".join(f"dataset.{k}=..." for k in unset)
        raise ConfigError(
            f"dataset=csv needs {' and '.join('dataset.' + k for k in unset)}, "
            f"not set. Set {'it' if len(unset) == 1 else 'them'} on the command "
            "line, e.g. "
            f"`python -m runner dataset=csv {sets}`."
        )
    path = resolve_path(cfg.path)
    if not path.is_file():
        raise DataError(
            f"dataset.path: no file at '{path}' (given {cfg.path!r}, relative "
            f"paths start from '{resolve_path('.')}'). Check the path, e.g. "
            "dataset.path=/abs/path/to/data.csv."
        )
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        frame = pd.read_csv(
            path,
            sep=cfg.sep,
            header=0 if cfg.header else None,
            na_values=list(cfg.na_values) or None,
            thousands=cfg.thousands,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"dataset.path: could not read '{path}' as CSV with sep={cfg.sep!r}: "
            f"{exc}. Set dataset.sep (e.g. dataset.sep=';') or dataset.header."
        ) from exc
    target = _column_name(frame, cfg.target, "dataset.target", cfg.header)
    return frame, target, str(path), sha


def _column_name(frame: pd.DataFrame, given: Any, key: str, header: bool) -> Any:
    """Map a configured column (name, or position without header) to its label."""
    columns = list(frame.columns)
    if given in columns:
        return given
    if not header:
        try:
            pos = int(given)
        except (TypeError, ValueError):
            pos = None
        if pos is not None and -len(columns) <= pos < len(columns):
            return columns[pos]
    shown = [str(c) for c in columns]
    hint = did_you_mean(str(given), shown)
    raise DataError(
        f"{key}: column {given!r} is not in the file; its columns are {shown}."
        f"{hint} Set {key}=<column>."
    )


def _build(
    frame: pd.DataFrame,
    target: Any,
    cfg: Any,
    label: str,
    source: str,
    sha: str | None,
) -> Dataset:
    frame = _drop_missing_target(frame, target, cfg)
    y = frame[target]
    drop = [_column_name(frame, c, "dataset.drop", cfg.header) for c in cfg.drop]
    X = frame.drop(columns=[target, *drop])
    if X.shape[1] == 0:
        raise DataError(
            f"dataset: no feature columns left after removing the target "
            f"{target!r} and dataset.drop={list(cfg.drop)}. Drop fewer columns."
        )
    X.columns = [str(c) for c in X.columns]
    time = _time_column(X, cfg)
    X = _clean_features(X, cfg)

    task = _infer_task(y, cfg.task, target)
    classes, positive = None, None
    if task != "regression":
        classes = _classes(y, target)
        positive = _positive_label(classes, cfg.positive_label, task, target)
        if not pd.api.types.is_numeric_dtype(y):
            y = y.astype(object)  # plain Python strings, as scikit-learn expects
    else:
        y = y.astype(float)
    return Dataset(
        X=X,
        y=y,
        task=task,
        classes=classes,
        positive_label=positive,
        label=label,
        source=source,
        digest=_digest(X, y),
        file_sha256=sha,
        time=time,
    )


def _drop_missing_target(frame: pd.DataFrame, target: Any, cfg: Any) -> pd.DataFrame:
    missing = frame[target].isna()
    n = int(missing.sum())
    if n == 0:
        return frame
    if not cfg.drop_missing_target:
        rows = frame.index[missing][:5].tolist()
        raise DataError(
            f"dataset.target: {n} of {len(frame)} rows have no value in column "
            f"{target!r} (rows {rows}...). Remove them from the file, or set "
            "dataset.drop_missing_target=true to leave them out."
        )
    log.warning("Dropped %d rows with a missing target %r", n, target)
    return frame.loc[~missing]


def _time_column(X: pd.DataFrame, cfg: Any) -> pd.Series | None:
    if cfg.time_column is None:
        return None
    name = _column_name(X, cfg.time_column, "dataset.time_column", True)
    return pd.to_datetime(X[name], errors="raise")


def _clean_features(X: pd.DataFrame, cfg: Any) -> pd.DataFrame:
    """Turn booleans into numbers, report infinities and numeric-looking text."""
    X = X.copy()
    for col in X.columns:
        if pd.api.types.is_bool_dtype(X[col]):
            X[col] = X[col].astype(float)
    numeric = X.select_dtypes(include="number")
    inf = np.isinf(numeric.to_numpy(dtype=float)).sum(axis=0)
    bad = {c: int(n) for c, n in zip(numeric.columns, inf, strict=True) if n}
    if bad:
        table = ", ".join(f"{c}: {n} inf" for c, n in bad.items())
        if cfg.preprocess.inf == "error":
            raise DataError(
                f"dataset: infinite values in numeric columns ({table}). Fix the "
                "data, or set dataset.preprocess.inf=missing to impute them."
            )
        log.warning("Infinite values treated as missing (%s)", table)
        X[list(bad)] = X[list(bad)].replace([np.inf, -np.inf], np.nan)
    _warn_numeric_text(X)
    return X


def _warn_numeric_text(X: pd.DataFrame) -> None:
    for col in X.columns:
        if pd.api.types.is_numeric_dtype(X[col]):
            continue
        values = X[col].dropna().astype(str)
        if (
            len(values)
            and values.str.contains(",", regex=False).any()
            and values.str.match(_THOUSANDS_RE).all()
        ):
            log.warning(
                "Column %r holds numbers written with thousands separators "
                "(%r); it is encoded as text. Set dataset.thousands=',' to read "
                "it as numbers.",
                col,
                values[values.str.contains(",", regex=False)].iloc[0],
            )


def _infer_task(y: pd.Series, declared: str | None, target: Any) -> str:
    n_unique = y.nunique()
    if n_unique < 2:
        raise DataError(
            f"dataset.target: column {target!r} has a single value "
            f"({y.iloc[0]!r}) in all {len(y)} rows; nothing can be learned. "
            "Choose another target column."
        )
    if declared is not None:
        if declared not in TASKS:
            raise ConfigError(
                f"dataset.task must be one of {list(TASKS)}; got {declared!r}."
                + did_you_mean(declared, TASKS)
            )
        return _check_declared_task(y, declared, target)
    # Text, booleans and integers with few values are class labels; floats
    # and integers with many values are quantities.  dataset.task overrides.
    if pd.api.types.is_float_dtype(y) or (
        pd.api.types.is_integer_dtype(y) and n_unique > _MAX_INT_CLASSES
    ):
        return "regression"
    return "binary" if n_unique == 2 else "multiclass"


def _check_declared_task(y: pd.Series, task: str, target: Any) -> str:
    n_unique = y.nunique()
    if task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise DataError(
            f"dataset.task=regression needs a numeric target; column {target!r} "
            f"holds text such as {y.iloc[0]!r}. Use dataset.task=multiclass."
        )
    if task == "binary" and n_unique != 2:
        raise DataError(
            f"dataset.task=binary needs two classes; column {target!r} has "
            f"{n_unique}. Use dataset.task=multiclass or null."
        )
    return task


def _classes(y: pd.Series, target: Any) -> list[Any]:
    values = y.unique().tolist()
    try:
        return sorted(values)
    except TypeError as exc:
        raise DataError(
            f"dataset.target: column {target!r} mixes label types "
            f"({sorted({type(v).__name__ for v in values})}). Make them uniform."
        ) from exc


def _positive_label(classes: list[Any], given: Any, task: str, target: Any) -> Any:
    if task != "binary":
        if given is not None:
            log.warning("dataset.positive_label=%r is ignored for %s", given, task)
        return None
    if given is None:
        raise DataError(
            f"dataset.positive_label: the target {target!r} is binary with labels "
            f"{classes}; declare which one is the positive class, e.g. "
            f"dataset.positive_label={classes[-1]!r}. It is never guessed."
        )
    if given in classes:
        return given
    # Command-line values arrive typed by Hydra (1 vs "1"), and some files
    # quote their labels ('1'): match on the text, then on the unquoted text.
    for text_of in (str, _unquoted):
        same = [c for c in classes if text_of(c) == text_of(given)]
        if len(same) == 1:
            if text_of is _unquoted:
                log.info("dataset.positive_label=%r matches label %r", given, same[0])
            return same[0]
    raise DataError(
        f"dataset.positive_label={given!r} is not a label of {target!r}; its "
        f"labels are {classes}." + did_you_mean(str(given), map(str, classes))
    )


def _unquoted(value: Any) -> str:
    return str(value).strip().strip("'\"")


def _digest(X: pd.DataFrame, y: pd.Series) -> str:
    h = hashlib.sha256()
    h.update("\x1f".join(X.columns).encode())
    h.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(y, index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]
