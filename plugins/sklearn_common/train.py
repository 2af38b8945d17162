"""Build the estimator pipeline from `model.*` and fit it."""

from __future__ import annotations

import importlib
import inspect

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core import SpecError
from plugins.sklearn_common.config import MODELS, ModelConfig


def estimator_class(task: str, model_type: str) -> type[BaseEstimator]:
    module, name = MODELS[task][model_type]
    return getattr(importlib.import_module(module), name)


def check_params(task: str, model: ModelConfig) -> None:
    """A typo in a hyperparameter names the estimator's real parameters."""
    cls = estimator_class(task, model.type)
    allowed = sorted(p for p in inspect.signature(cls.__init__).parameters if p != "self")
    for key in model.params:
        if key not in allowed:
            raise SpecError(f"{cls.__name__} has no parameter {key!r}", field=f"data_spec.model.{key}",
                            allowed=allowed, got=key)
    # The values too, by scikit-learn's own constraints (`n_estimators: fifty`), now rather than at fit
    # time: bad input before a run folder exists, not a FAILED run.
    try:
        estimator = cls(**model.params)
        validate = getattr(estimator, "_validate_params", None)
        if validate is not None:  # scikit-learn >= 1.2
            validate()
    except (TypeError, ValueError) as exc:  # InvalidParameterError is a ValueError
        message = " ".join(str(exc).split())
        bad = next((key for key in model.params if f"'{key}'" in message), None)
        raise SpecError(message, field=f"data_spec.model.{bad}" if bad else "data_spec.model") from None


def build(task: str, model: ModelConfig, *, seed: int | None, categorical: list[int], n_features: int) -> Pipeline:
    cls = estimator_class(task, model.type)
    params = dict(model.params)
    if seed is not None and "random_state" in inspect.signature(cls.__init__).parameters:
        params.setdefault("random_state", seed)
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise SpecError(str(exc), field="data_spec.model") from None
    steps = []
    if categorical:
        numeric = [i for i in range(n_features) if i not in categorical]
        num_steps = [("impute", SimpleImputer(strategy="median"))]
        if model.scale:
            num_steps.append(("scale", StandardScaler()))
        steps.append(("prepare", ColumnTransformer([
            ("numeric", Pipeline(num_steps), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ])))
    elif model.scale:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", estimator))
    return Pipeline(steps)


def fit(pipeline: Pipeline, X: np.ndarray, y: np.ndarray) -> Pipeline:
    try:
        return pipeline.fit(X, y)
    except ValueError as exc:
        # e.g. NaN in a numeric CSV column for a model that cannot take missing values
        raise ValueError(f"training failed: {exc}") from exc


def hyperparameters(pipeline: Pipeline) -> dict[str, object]:
    """The final estimator's effective parameters, for `model.*` params."""
    return {k: v for k, v in pipeline.named_steps["model"].get_params(deep=False).items()}
