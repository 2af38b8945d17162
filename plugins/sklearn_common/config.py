"""Parse and validate `RunSpec.data_spec` for the sklearn family. Pure Python: no sklearn import.

    pipeline: train            # or score
    data:  {source: synthetic | builtin | csv, ...}   # plugins.common.tabular.config
    model: {type: random_forest, scale: false, <estimator hyperparameters>...}
    split: {train: 0.7, val: 0.15, test: 0.15}
    score: {run_id: <id of a finished training run>}   # pipeline: score only; or
    score: {model_uri: runs:/<mlflow run id>/model | models:/NAME@ALIAS | models:/NAME/3}
    plots: true
    log_model: true            # an MLflow Model at artifact path `model` (sklearn flavour and pyfunc)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import ConfigField, SpecError
from plugins.common.fields import as_mapping, boolean, only_fields
from plugins.common.mlflow_model import LOG_MODEL_HELP, MODEL_URI_FORMS, score_source
from plugins.common.split import DEFAULT_SPLIT, parse_split
from plugins.common.tabular.config import BUILTIN, SOURCES, SYNTHETIC_KEYS, DataConfig, parse_data

TASKS = ("classification", "regression")
PIPELINES = ("train", "score")
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
DEFAULT_MODEL = {"classification": "random_forest", "regression": "ridge"}


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
    score_model_uri: str | None = None
    log_model: bool = True


def parse_config(data_spec: Mapping[str, Any], *, task: str) -> SklearnConfig:
    """Validate the plugin's config; every error names the field and what is allowed."""
    only_fields(data_spec, ("pipeline", "data", "model", "split", "score", "plots", "log_model", "purpose"),
                "data_spec")
    pipeline = data_spec.get("pipeline", "train")
    if pipeline not in PIPELINES:
        raise SpecError(f"unknown pipeline {pipeline!r}", field="data_spec.pipeline", allowed=PIPELINES, got=pipeline)
    data = parse_data(as_mapping(data_spec.get("data", {"source": "synthetic"}), "data_spec.data"), task)
    model = _model(as_mapping(data_spec.get("model", {}), "data_spec.model"), task)
    split = parse_split(as_mapping(data_spec.get("split", {}), "data_spec.split"))
    plots = data_spec.get("plots", True)
    if not isinstance(plots, bool):
        raise SpecError("must be true or false", field="data_spec.plots")
    score = as_mapping(data_spec.get("score", {}), "data_spec.score")
    run_id, model_uri = score_source(score, "data_spec.score", required=pipeline == "score",
                                     purpose="the id of a finished training run")
    log_model = boolean(data_spec, "log_model", True, "data_spec")
    return SklearnConfig(task, pipeline, data, model, split, plots, run_id, model_uri, log_model)


def _model(cfg: Mapping[str, Any], task: str) -> ModelConfig:
    mtype = cfg.get("type", DEFAULT_MODEL[task])
    if mtype not in MODELS[task]:
        raise SpecError(f"unknown model type {mtype!r}", field="data_spec.model.type", allowed=sorted(MODELS[task]),
                        got=mtype)
    scale = cfg.get("scale", False)
    if not isinstance(scale, bool):
        raise SpecError("must be true or false", field="data_spec.model.scale")
    params = {k: v for k, v in cfg.items() if k not in ("type", "scale")}
    return ModelConfig(mtype, scale, params)


def config_fields(task: str) -> tuple[ConfigField, ...]:
    """The family's `data_spec`, for `core plugins show`."""
    synthetic = SYNTHETIC_KEYS[task]
    return (
        ConfigField("pipeline", "str", "train", PIPELINES, "train a model, or score data with a trained run's model"),
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
        ConfigField("score.model_uri", "str", None, MODEL_URI_FORMS, "an MLflow Model, instead of score.run_id",
                    when="pipeline: score"),
        ConfigField("plots", "bool", True, help="confusion matrix, ROC, residuals, importances"),
        ConfigField("log_model", "bool", True, help=LOG_MODEL_HELP, when="pipeline: train"),
    )
