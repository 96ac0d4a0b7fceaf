"""Build the scikit-learn pipeline a model config describes.

A model config is data: the keys are the estimator's own constructor
arguments, plus a few reserved keys in underscores:

``_classifier_`` / ``_regressor_``
    Class path used for classification / regression targets (null when the
    model has no such kind).
``_scale_``
    The model needs standardised features (distance or margin based).
``_native_missing_``
    The model handles missing values itself; numeric imputation is skipped.

Class paths are imported only when they start with a prefix of the config's
``allow_targets`` list.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError, did_you_mean

RESERVED = ("_classifier_", "_regressor_", "_scale_", "_native_missing_")


@dataclass(frozen=True)
class ModelSpec:
    """The estimator class and keyword arguments a model config resolves to."""

    choice: str
    cls: type
    params: dict[str, Any]
    scale: bool
    native_missing: bool

    def make(self) -> Any:
        """A fresh, unfitted estimator."""
        return self.cls(**self.params)


def model_spec(
    model_cfg: dict[str, Any], task: str, choice: str, allow: list[str]
) -> ModelSpec:
    """Resolve and check a model config for ``task`` without fitting anything.

    Raises
    ------
    ConfigError
        If the class is not allowed or missing, a key is not a constructor
        argument, or a value fails the estimator's own parameter validation.
    """
    kind = "_regressor_" if task == "regression" else "_classifier_"
    path = model_cfg.get(kind)
    if not path:
        other = "classification" if task == "regression" else "regression"
        raise ConfigError(
            f"model={choice} has no {task} estimator (model.{kind} is null); it "
            f"only serves {other}. Choose another model, e.g. model=rf."
        )
    cls = import_allowed(str(path), allow, f"model.{kind}")
    params = {k: v for k, v in model_cfg.items() if k not in RESERVED}
    _check_param_names(cls, params, choice)
    spec = ModelSpec(
        choice=choice,
        cls=cls,
        params=params,
        scale=bool(model_cfg.get("_scale_", False)),
        native_missing=bool(model_cfg.get("_native_missing_", False)),
    )
    _check_param_values(spec)
    return spec


def import_allowed(path: str, allow: list[str], key: str) -> type:
    """Import the class at ``path`` if a prefix in ``allow`` admits it."""
    if not any(path.startswith(prefix) for prefix in allow):
        raise ConfigError(
            f"{key}={path!r} is not allowed: a config may only name classes "
            f"under {list(allow)}. If you trust it, add its prefix, e.g. "
            f"'allow_targets=[{', '.join(allow)}, {path.split('.')[0]}.]'."
        )
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{key}={path!r}: cannot import module {module_name!r} ({exc}). "
            "Check the class path."
        ) from exc
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ConfigError(
            f"{key}={path!r}: module {module_name!r} has no class {name!r}."
            + did_you_mean(name, names)
        )
    return cls


def _check_param_names(cls: type, params: dict[str, Any], choice: str) -> None:
    accepted = [
        p
        for p in inspect.signature(cls).parameters
        if p not in ("self", "args", "kwargs")
    ]
    for key in params:
        if key not in accepted:
            raise ConfigError(
                f"model.{key}: {cls.__name__} (model={choice}) has no parameter "
                f"{key!r}.{did_you_mean(key, accepted)} Its parameters are "
                f"{accepted}."
            )


def _check_param_values(spec: ModelSpec) -> None:
    estimator = spec.make()
    validate = getattr(estimator, "_validate_params", None)
    if validate is None:
        return
    try:
        # scikit-learn's own constraint table: types and ranges, before fit.
        validate()
    except (ValueError, TypeError) as exc:
        key = _named_param(str(exc), spec.params)
        hint = f" Set a valid value, e.g. model.{key}=..." if key else ""
        raise ConfigError(f"model (model={spec.choice}): {exc}{hint}") from exc


def _named_param(message: str, params: dict[str, Any]) -> str | None:
    for key in params:
        if f"'{key}'" in message:
            return key
    return None
