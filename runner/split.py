"""Train / validation / test split, seeded from the config's ``seed``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from runner.data import Dataset
from runner.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Row positions (into ``Dataset.X``) of each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


def check_split(data: Dataset, cfg: Any) -> None:
    """Fail before training when the data is too small for the split."""
    for key in ("val_size", "test_size"):
        value = getattr(cfg, key)
        if not 0 < value < 1:
            raise ConfigError(
                f"split.{key} must be a fraction between 0 and 1; got {value!r}. "
                f"E.g. split.{key}=0.2."
            )
    if cfg.val_size + cfg.test_size >= 1:
        raise ConfigError(
            f"split.val_size + split.test_size must be below 1; got "
            f"{cfg.val_size} + {cfg.test_size}. Hold out less, e.g. 0.2 each."
        )
    if cfg.method not in ("random", "time"):
        raise ConfigError(
            f"split.method must be 'random' or 'time'; got {cfg.method!r}."
        )
    if cfg.method == "time" and data.time is None:
        raise ConfigError(
            "split.method=time needs the time of each row; set "
            "dataset.time_column=<column>."
        )
    _check_sizes(data, cfg)


def split_sizes(n: int, cfg: Any) -> tuple[int, int, int]:
    """Rows in train, val and test, exactly as :func:`make_split` cuts them."""
    n_test = math.ceil(n * cfg.test_size)
    n_val = math.ceil((n - n_test) * _val_share(cfg))
    return n - n_test - n_val, n_val, n_test


def _val_share(cfg: Any) -> float:
    return float(cfg.val_size / (1 - cfg.test_size))


def _check_sizes(data: Dataset, cfg: Any) -> None:
    n = len(data.y)
    n_train, n_val, n_test = split_sizes(n, cfg)
    sizes = f"train {n_train}, val {n_val}, test {n_test} of {n} rows"
    fix = "Use more rows or change split.val_size / split.test_size."
    if data.task == "regression" or not _stratified(data, cfg):
        if min(n_train, n_val, n_test) < 2:
            raise DataError(f"dataset too small for the split ({sizes}). {fix}")
        return
    counts = data.y.value_counts()
    rare = counts[counts < 3]
    if len(rare):
        raise DataError(
            f"dataset too small for a stratified split: class "
            f"{rare.index[0]!r} has {int(rare.iloc[0])} row(s) and every split "
            f"needs one. {fix} Or set split.stratify=false."
        )
    n_classes = len(counts)
    if min(n_train, n_val, n_test) < n_classes:
        raise DataError(
            f"dataset too small for a stratified split of {n_classes} classes "
            f"({sizes}). {fix}"
        )


def _stratified(data: Dataset, cfg: Any) -> bool:
    return bool(cfg.stratify) and cfg.method == "random" and data.task != "regression"


def make_split(data: Dataset, cfg: Any, seed: int) -> Split:
    """Split the rows; stratified by class for classification.

    The same data, settings and seed give the same split, computed once per
    process (its arrays are read-only, as they are shared).
    """
    from omegaconf import OmegaConf

    key = ("split", repr(OmegaConf.to_container(cfg, resolve=True)), int(seed))
    if key not in data.memo:
        split = _make_split(data, cfg, seed)
        for rows in split.parts().values():
            rows.setflags(write=False)
        data.memo[key] = split
    return data.memo[key]


def _make_split(data: Dataset, cfg: Any, seed: int) -> Split:
    n = len(data.y)
    if cfg.method == "time":
        return _time_split(data, cfg)
    from sklearn.model_selection import train_test_split

    rows = np.arange(n)
    y = data.y.to_numpy()
    strat = y if _stratified(data, cfg) else None
    rest, test = train_test_split(
        rows, test_size=cfg.test_size, random_state=seed, stratify=strat
    )
    val_share = _val_share(cfg)
    strat_rest = y[rest] if strat is not None else None
    train, val = train_test_split(
        rest, test_size=val_share, random_state=seed, stratify=strat_rest
    )
    return Split(np.sort(train), np.sort(val), np.sort(test))


def _time_split(data: Dataset, cfg: Any) -> Split:
    """Oldest rows train, the next validate, the newest test."""
    assert data.time is not None
    order = np.argsort(data.time.to_numpy(), kind="stable")
    n_train, n_val, _ = split_sizes(len(order), cfg)
    return Split(
        order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    )
