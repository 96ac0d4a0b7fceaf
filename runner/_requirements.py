"""Pinned requirements of a logged model, given rather than inferred.

MLflow's requirement inference imports and scans the model (6-10 s here);
the pipeline only needs the libraries below, at the versions that built it.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version


@cache
def model_requirements() -> list[str]:
    """``name==version`` for the packages a logged pipeline needs to load."""
    names = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
    return [f"{name}=={version(name)}" for name in names]
