"""Data cases of shared/CASES.md (C31, C32) and the time split, in process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from runner._preprocess import build_pipeline
from runner.data import load_dataset
from runner.errors import DataError
from runner.models import model_spec
from runner.schema import DatasetConfig, SplitConfig
from runner.split import make_split, split_sizes
from tests.conftest import DATA, RunCli, Store


def dataset_cfg(path: Path, target: str, **kw: Any) -> Any:
    cfg = OmegaConf.structured(DatasetConfig)
    cfg.source, cfg.path, cfg.target = "csv", str(path), target
    for key, value in kw.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def c31_file(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "rate": [0.5, 1.2, np.inf, 0.7, 2.0, 1.1] * 10,
            "bytes": [10, 20, 30, np.nan, 50, 60] * 10,
            "y": [0, 1, 1, 0, 1, 0] * 10,
        }
    )
    path = tmp_path / "c31.csv"
    frame.to_csv(path, index=False)
    return path


def test_c31_infinities_are_reported_per_column_then_imputed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        data = load_dataset(
            dataset_cfg(c31_file(tmp_path), "y", positive_label=1), "c31"
        )
    assert "Infinite values treated as missing (rate: 10 inf)" in caplog.text
    assert data.X["rate"].isna().sum() == 10 and data.X["bytes"].isna().sum() == 10
    spec = model_spec(
        {"_classifier_": "sklearn.linear_model.LogisticRegression"},
        "binary",
        "logreg",
        ["sklearn."],
    )
    pipe = build_pipeline(data.X, spec, dataset_cfg(c31_file(tmp_path), "y").preprocess)
    pipe.fit(data.X, data.y)  # LogisticRegression alone fails on NaN
    assert np.isfinite(pipe.predict_proba(data.X)).all()


def test_c31_infinities_can_be_an_error(tmp_path: Path) -> None:
    cfg = dataset_cfg(c31_file(tmp_path), "y", positive_label=1)
    cfg.preprocess.inf = "error"
    with pytest.raises(
        DataError,
        match=r"infinite values in numeric columns "
        r"\(rate: 10 inf\)",
    ):
        load_dataset(cfg, "c31")


def test_c32_text_columns_are_one_hot_encoded(tmp_path: Path) -> None:
    path = tmp_path / "c32.csv"
    pd.DataFrame(
        {
            "rooms": [3, 5, 2, 4] * 5,
            "city_zone": ["north", "south", "north", "east"] * 5,
            "y": [210.0, 340.0, 180.0, 260.0] * 5,
        }
    ).to_csv(path, index=False)
    data = load_dataset(dataset_cfg(path, "y"), "c32")
    assert data.task == "regression"
    spec = model_spec(
        {"_regressor_": "sklearn.linear_model.LinearRegression"},
        "regression",
        "lin",
        ["sklearn."],
    )
    pipe = build_pipeline(data.X, spec, dataset_cfg(path, "y").preprocess)
    pipe.fit(data.X, data.y)
    assert pipe.predict(data.X) == pytest.approx(data.y.to_numpy())


def test_c32_numbers_with_thousands_separators(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "amount.csv"
    path.write_text('amount,y\n"1,200",a\n"950",b\n"1,050",a\n"800",b\n')
    with caplog.at_level(logging.WARNING):
        data = load_dataset(dataset_cfg(path, "y", positive_label="a"), "amount")
    assert "Column 'amount' holds numbers written with thousands separators" in (
        caplog.text
    )
    assert "dataset.thousands=','" in caplog.text
    assert not pd.api.types.is_numeric_dtype(data.X["amount"])
    fixed = load_dataset(
        dataset_cfg(path, "y", positive_label="a", thousands=","), "amount"
    )
    assert fixed.X["amount"].tolist() == [1200, 950, 1050, 800]


def test_time_split_orders_rows_by_time() -> None:
    cfg = dataset_cfg(
        DATA / "bike_sharing_day.csv",
        "cnt",
        time_column="dteday",
        drop=["instant", "casual", "registered"],
    )
    data = load_dataset(cfg, "bike")
    split_cfg = OmegaConf.structured(SplitConfig(method="time"))
    split = make_split(data, split_cfg, seed=0)
    times = data.time.to_numpy()
    assert times[split.train].max() < times[split.val].min()
    assert times[split.val].max() < times[split.test].min()
    assert (len(split.train), len(split.val), len(split.test)) == split_sizes(
        731, split_cfg
    )


def test_random_split_of_time_data_warns_of_leakage(
    run_cli: RunCli, store: Store
) -> None:
    base = [
        "dataset=csv",
        f"dataset.path={DATA / 'bike_sharing_day.csv'}",
        "dataset.target=cnt",
        "dataset.time_column=dteday",
        "dataset.drop=[instant,casual,registered]",
        "model=hgb",
        "tracking.log_model=false",
        "tracking.plots=false",
    ]
    run_cli(*base)
    run_cli(*base, "split=time")
    shuffled, ordered = store.runs()
    assert shuffled.data.tags["diagnostic.leakage_time"] == "warn"
    assert ordered.data.tags["diagnostic.leakage_time"] == "ok"
    assert ordered.data.tags["runner.choice.split"] == "time"
    assert (
        ordered.info.run_name == "hgb-bike_sharing_day-drop=[instant,casual,"
        "registered]-split=time"
    )
