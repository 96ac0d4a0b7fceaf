"""The preprocessing half of the pipeline, inferred from column types."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from runner.errors import ConfigError
from runner.models import ModelSpec


def _switch(value: Any, auto: bool, key: str) -> bool:
    if value == "auto":
        return auto
    if isinstance(value, bool):
        return value
    raise ConfigError(
        f"{key} must be auto, true or false; got {value!r}. E.g. {key}=auto."
    )


def build_pipeline(X: pd.DataFrame, spec: ModelSpec, cfg: Any) -> Pipeline:
    """One Pipeline: impute, scale and one-hot encode, then the estimator.

    Numeric columns are imputed with the median (unless the model handles
    missing values) and standardised when the model needs it; text columns are
    imputed with the most frequent value and one-hot encoded.  Every step is
    fitted on the training rows only, as part of the pipeline's ``fit``.
    """
    impute = _switch(cfg.impute, not spec.native_missing, "dataset.preprocess.impute")
    scale = _switch(cfg.scale, spec.scale, "dataset.preprocess.scale")
    numeric = X.select_dtypes(include="number").columns.tolist()
    text = [c for c in X.columns if c not in numeric]

    num_steps: list[Any] = []
    if impute:
        num_steps.append(SimpleImputer(strategy="median"))
    if scale:
        num_steps.append(StandardScaler())
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        num = make_pipeline(*num_steps) if num_steps else "passthrough"
        transformers.append(("numeric", num, numeric))
    if text:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=cfg.max_categories,
            sparse_output=False,
        )
        cat = make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            encoder,
        )
        transformers.append(("text", cat, text))
    columns = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", columns), ("model", spec.make())])
