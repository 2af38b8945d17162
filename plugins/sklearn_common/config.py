"""Parse and validate `RunSpec.data_spec` for the sklearn family. Pure Python: no sklearn import.

    pipeline: train            # or score
    data:  {source: synthetic | builtin | csv, ...}
    model: {type: random_forest, scale: false, <estimator hyperparameters>...}
    split: {train: 0.7, val: 0.15, test: 0.15}
    score: {run_id: <id of a finished training run>}   # pipeline: score only
    plots: true
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import ConfigField, SpecError
from plugins.common.fields import as_mapping, only_fields

TASKS = ("classification", "regression")
PIPELINES = ("train", "score")
SOURCES = ("synthetic", "builtin", "csv")
BUILTIN = {
    "classification": ("iris", "wine", "breast_cancer", "digits"),
    "regression": ("diabetes",),
}
# model.type -> (module, class) per task; hyperparameters are checked against the class itself.
MODELS = {
    "classification": {
        "logistic_regression": ("sklearn.linear_model", "LogisticRegression"),
        "random_forest": ("sklearn.ensemble", "RandomForestClassifier"),
        "gradient_boosting": ("sklearn.ensemble", "GradientBoostingClassifier"),
        "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingClassifier"),
        "svm": ("sklearn.svm", "SVC"),
        "knn": ("sklearn.neighbors", "KNeighborsClassifier"),
        "decision_tree": ("sklearn.tree", "DecisionTreeClassifier"),
    },
    "regression": {
        "linear_regression": ("sklearn.linear_model", "LinearRegression"),
        "ridge": ("sklearn.linear_model", "Ridge"),
        "random_forest": ("sklearn.ensemble", "RandomForestRegressor"),
        "gradient_boosting": ("sklearn.ensemble", "GradientBoostingRegressor"),
        "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingRegressor"),
        "svm": ("sklearn.svm", "SVR"),
        "knn": ("sklearn.neighbors", "KNeighborsRegressor"),
        "decision_tree": ("sklearn.tree", "DecisionTreeRegressor"),
    },
}
SYNTHETIC_KEYS = {
    "classification": {"n_samples": 1000, "n_features": 20, "n_informative": 5, "n_redundant": 2,
                       "n_classes": 2, "class_sep": 1.0, "flip_y": 0.01},
    "regression": {"n_samples": 1000, "n_features": 20, "n_informative": 10, "noise": 0.1},
}
DEFAULT_SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15}
DEFAULT_MODEL = {"classification": "random_forest", "regression": "ridge"}


@dataclass(frozen=True)
class DataConfig:
    source: str
    name: str | None = None  # builtin
    path: str | None = None  # csv
    target: str | None = None  # csv
    features: tuple[str, ...] | None = None  # csv
    synthetic: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    type: str
    scale: bool
    params: Mapping[str, Any]


@dataclass(frozen=True)
class SklearnConfig:
    task: str
    pipeline: str
    data: DataConfig
    model: ModelConfig
    split: Mapping[str, float]
    plots: bool
    score_run_id: str | None


def parse_config(data_spec: Mapping[str, Any], *, task: str) -> SklearnConfig:
    """Validate the plugin's config; every error names the field and what is allowed."""
    only_fields(data_spec, ("pipeline", "data", "model", "split", "score", "plots", "purpose"), "data_spec")
    pipeline = data_spec.get("pipeline", "train")
    if pipeline not in PIPELINES:
        raise SpecError(f"unknown pipeline {pipeline!r}", field="data_spec.pipeline", allowed=PIPELINES)
    data = parse_data(as_mapping(data_spec.get("data", {"source": "synthetic"}), "data_spec.data"), task)
    model = _model(as_mapping(data_spec.get("model", {}), "data_spec.model"), task)
    split = parse_split(as_mapping(data_spec.get("split", {}), "data_spec.split"))
    plots = data_spec.get("plots", True)
    if not isinstance(plots, bool):
        raise SpecError("must be true or false", field="data_spec.plots")
    score = as_mapping(data_spec.get("score", {}), "data_spec.score")
    only_fields(score, ("run_id",), "data_spec.score")
    run_id = score.get("run_id")
    if pipeline == "score" and not (isinstance(run_id, str) and run_id):
        raise SpecError("is required for pipeline: score (the id of a finished training run)",
                        field="data_spec.score.run_id")
    return SklearnConfig(task, pipeline, data, model, split, plots, run_id)


def parse_data(cfg: Mapping[str, Any], task: str) -> DataConfig:
    source = cfg.get("source", "synthetic")
    if source not in SOURCES:
        raise SpecError(f"unknown source {source!r}", field="data_spec.data.source", allowed=SOURCES)
    if source == "synthetic":
        defaults = SYNTHETIC_KEYS[task]
        only_fields(cfg, ("source", *defaults), "data_spec.data")
        knobs = {**defaults, **{k: v for k, v in cfg.items() if k != "source"}}
        for key, value in knobs.items():
            kind = float if isinstance(defaults[key], float) else int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
                raise SpecError(f"must be {'a number' if kind is float else 'an integer'}, got {value!r}",
                                field=f"data_spec.data.{key}")
            if value < 0:
                raise SpecError(f"must not be negative, got {value!r}", field=f"data_spec.data.{key}")
        if knobs["n_samples"] < 20:
            raise SpecError("must be at least 20", field="data_spec.data.n_samples")
        return DataConfig(source, synthetic=knobs)
    if source == "builtin":
        only_fields(cfg, ("source", "name"), "data_spec.data")
        name = cfg.get("name")
        if name not in BUILTIN[task]:
            raise SpecError(f"unknown builtin dataset {name!r}", field="data_spec.data.name", allowed=BUILTIN[task])
        return DataConfig(source, name=name)
    only_fields(cfg, ("source", "path", "target", "features"), "data_spec.data")
    path = cfg.get("path")
    if not isinstance(path, str) or not path:
        raise SpecError("is required for source: csv (a path to a CSV file)", field="data_spec.data.path")
    target = cfg.get("target")
    if target is not None and not isinstance(target, str):
        raise SpecError("must be a column name", field="data_spec.data.target")
    features = cfg.get("features")
    if features is not None and not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
        raise SpecError("must be a list of column names", field="data_spec.data.features")
    return DataConfig(source, path=path, target=target, features=tuple(features) if features else None)


def _model(cfg: Mapping[str, Any], task: str) -> ModelConfig:
    mtype = cfg.get("type", DEFAULT_MODEL[task])
    if mtype not in MODELS[task]:
        raise SpecError(f"unknown model type {mtype!r}", field="data_spec.model.type", allowed=sorted(MODELS[task]))
    scale = cfg.get("scale", False)
    if not isinstance(scale, bool):
        raise SpecError("must be true or false", field="data_spec.model.scale")
    params = {k: v for k, v in cfg.items() if k not in ("type", "scale")}
    return ModelConfig(mtype, scale, params)


def parse_split(cfg: Mapping[str, Any]) -> dict[str, float]:
    only_fields(cfg, tuple(DEFAULT_SPLIT), "data_spec.split")
    split = {**DEFAULT_SPLIT, **cfg} if cfg else dict(DEFAULT_SPLIT)
    if cfg and set(cfg) != set(DEFAULT_SPLIT):
        missing = sorted(set(DEFAULT_SPLIT) - set(cfg))
        raise SpecError(f"give all three ratios (missing: {', '.join(missing)})", field="data_spec.split")
    for key, value in split.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise SpecError(f"must be a number in (0, 1), got {value!r}", field=f"data_spec.split.{key}")
    total = sum(split.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise SpecError(f"ratios must sum to 1, they sum to {total:g}", field="data_spec.split")
    return {k: float(v) for k, v in split.items()}


def config_fields(task: str) -> tuple[ConfigField, ...]:
    """The family's `data_spec`, for `core plugins show`."""
    synthetic = SYNTHETIC_KEYS[task]
    return (
        ConfigField("pipeline", "str", "train", PIPELINES, "train a model, or score data with a trained run's"),
        ConfigField("data.source", "str", "synthetic", SOURCES, "where the rows come from"),
        *(ConfigField(f"data.{k}", type(v).__name__, v, help="make_classification/make_regression knob",
                      when="data.source: synthetic") for k, v in synthetic.items()),
        ConfigField("data.name", "str", None, BUILTIN[task], "a data set bundled with scikit-learn",
                    when="data.source: builtin"),
        ConfigField("data.path", "str", None, help="a CSV file with a header row", when="data.source: csv"),
        ConfigField("data.target", "str", None, help="the label column (required to train)", when="data.source: csv"),
        ConfigField("data.features", "list[str]", None, help="feature columns (default: all but the target)",
                    when="data.source: csv"),
        ConfigField("model.type", "str", DEFAULT_MODEL[task], tuple(sorted(MODELS[task])), "the estimator"),
        ConfigField("model.scale", "bool", False, help="StandardScaler before the estimator"),
        ConfigField("model.<param>", "any", None, help="any parameter of the estimator (a typo lists the real ones)"),
        *(ConfigField(f"split.{k}", "float", v, "(0, 1), the three summing to 1") for k, v in DEFAULT_SPLIT.items()),
        ConfigField("score.run_id", "str", None, help="a finished training run", when="pipeline: score"),
        ConfigField("plots", "bool", True, help="confusion matrix, ROC, residuals, importances"),
    )
