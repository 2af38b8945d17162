"""Parse and validate `RunSpec.data_spec` for `torch_mlp`. Pure Python: no torch import.

    task: classification            # or regression
    pipeline: train                 # or score
    data:  {source: synthetic | builtin | csv, ...}      # as in the sklearn family
    split: {train: 0.7, val: 0.15, test: 0.15}
    model: {hidden: [64, 64], activation: relu, dropout: 0.0, batch_norm: false}
    train: {epochs: 20, batch_size: 64, optimizer: adam, lr: 0.001, weight_decay: 0.0,
            momentum: 0.9, schedule: {type: step, step_size: 10, gamma: 0.5}, device: auto}
    early_stopping: {metric: val_loss, patience: 5, min_delta: 0.0}   # optional
    resume: {run_id: <an earlier torch_mlp run>}                      # optional, train only
    score: {run_id: <a finished torch_mlp run>}                       # pipeline: score only; or
    score: {model_uri: runs:/<mlflow run id>/model | models:/NAME@ALIAS | models:/NAME/3}
    plots: true
    log_model: true                 # an MLflow Model (pyfunc) at artifact path `model`
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from core import ConfigField, SpecError
from plugins.common.fields import as_mapping, boolean, choice, number, only_fields, run_id
from plugins.common.mlflow_model import LOG_MODEL_HELP, MODEL_URI_FORMS, score_source
from plugins.common.split import parse_split
from plugins.common.tabular.config import DataConfig, parse_data
from plugins.common.torch_train.config import (
    EarlyStopping,
    TrainConfig,
    parse_early_stopping,
    parse_train,
    train_params,
    training_fields,
)

TASKS = ("classification", "regression")
PIPELINES = ("train", "score")
ACTIVATIONS = ("relu", "gelu", "tanh", "leaky_relu", "elu", "silu")
VAL_METRICS = {
    "classification": ("val_loss", "val_accuracy", "val_f1_macro"),
    "regression": ("val_loss", "val_rmse", "val_mae", "val_r2"),
}
FIELDS = ("task", "pipeline", "data", "split", "model", "train", "early_stopping", "resume", "score",
          "plots", "log_model", "purpose")


@dataclass(frozen=True)
class ModelConfig:
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False


@dataclass(frozen=True)
class MlpConfig:
    task: str
    pipeline: str
    data: DataConfig
    split: Mapping[str, float]
    model: ModelConfig
    train: TrainConfig
    early_stopping: EarlyStopping
    resume_run_id: str | None
    score_run_id: str | None
    plots: bool
    score_model_uri: str | None = None
    log_model: bool = True

    def params(self) -> dict[str, Any]:
        """Structured params: `model.*` the network, `train.*` how it is trained."""
        out: dict[str, Any] = {"model.type": "mlp", "model.task": self.task}
        out.update({f"model.{k}": (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.model).items()})
        out.update(train_params(self.train, self.early_stopping))
        out.update({f"split.{k}": v for k, v in self.split.items()})
        return out

    def network(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed or scored by this config."""
        return {"task": self.task, **asdict(self.model), "hidden": list(self.model.hidden)}


def parse_config(data_spec: Mapping[str, Any]) -> MlpConfig:
    """Validate the whole config; every error names the field and what is allowed."""
    only_fields(data_spec, FIELDS, "data_spec")
    task = choice(data_spec, "task", "classification", "data_spec", TASKS)
    pipeline = choice(data_spec, "pipeline", "train", "data_spec", PIPELINES)
    data = parse_data(as_mapping(data_spec.get("data", {"source": "synthetic"}), "data_spec.data"), task)
    split = parse_split(as_mapping(data_spec.get("split", {}), "data_spec.split"))
    model = _model(as_mapping(data_spec.get("model", {}), "data_spec.model"))
    train = parse_train(as_mapping(data_spec.get("train", {}), "data_spec.train"))
    stopping = parse_early_stopping(as_mapping(data_spec.get("early_stopping", {}), "data_spec.early_stopping"),
                                    VAL_METRICS[task])
    resume = as_mapping(data_spec.get("resume", {}), "data_spec.resume")
    only_fields(resume, ("run_id",), "data_spec.resume")
    score = as_mapping(data_spec.get("score", {}), "data_spec.score")
    score_id, score_uri = score_source(score, "data_spec.score", required=pipeline == "score",
                                       purpose="the id of a finished torch_mlp training run")
    resume_id = run_id(resume, "data_spec.resume", required=False, purpose="the torch_mlp run to continue")
    if resume_id and pipeline == "score":
        raise SpecError("only applies to pipeline: train", field="data_spec.resume")
    plots = boolean(data_spec, "plots", True, "data_spec")
    log_model = boolean(data_spec, "log_model", True, "data_spec")
    return MlpConfig(task, pipeline, data, split, model, train, stopping, resume_id, score_id, plots, score_uri,
                     log_model)


def _model(cfg: Mapping[str, Any]) -> ModelConfig:
    where = "data_spec.model"
    only_fields(cfg, ("hidden", "activation", "dropout", "batch_norm"), where)
    hidden = cfg.get("hidden", list(ModelConfig.hidden))
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if not (isinstance(hidden, list) and all(isinstance(h, int) and not isinstance(h, bool) and 0 < h <= 65536
                                             for h in hidden)):
        raise SpecError(f"must be a list of layer widths (integers 1..65536), got {hidden!r}", field=f"{where}.hidden")
    return ModelConfig(
        hidden=tuple(hidden),
        activation=choice(cfg, "activation", ModelConfig.activation, where, ACTIVATIONS),
        dropout=number(cfg, "dropout", ModelConfig.dropout, where, low=0.0, high=0.95),
        batch_norm=boolean(cfg, "batch_norm", ModelConfig.batch_norm, where),
    )


CONFIG_FIELDS = (
    ConfigField("task", "str", "classification", TASKS),
    ConfigField("pipeline", "str", "train", PIPELINES, "train, or score data with a finished run's best.pt"),
    ConfigField("data.*", "mapping", "{source: synthetic}", help="as the sklearn family: source synthetic | builtin | csv"),
    ConfigField("split.train/val/test", "float", "0.7/0.15/0.15", "(0, 1), summing to 1"),
    ConfigField("model.hidden", "list[int]", list(ModelConfig.hidden), "widths 1..65536", "hidden layer widths"),
    ConfigField("model.activation", "str", ModelConfig.activation, ACTIVATIONS),
    ConfigField("model.dropout", "float", ModelConfig.dropout, "[0, 0.95]"),
    ConfigField("model.batch_norm", "bool", ModelConfig.batch_norm),
    *training_fields(TrainConfig(), VAL_METRICS["classification"] + VAL_METRICS["regression"][1:]),
    ConfigField("resume.run_id", "str", None, help="an earlier torch_mlp run to continue from its models/last.pt"),
    ConfigField("score.run_id", "str", None, help="a finished torch_mlp run", when="pipeline: score"),
    ConfigField("score.model_uri", "str", None, MODEL_URI_FORMS, "an MLflow Model, instead of score.run_id",
                when="pipeline: score"),
    ConfigField("plots", "bool", True, help="loss curves, val metrics, confusion matrix"),
    ConfigField("log_model", "bool", True, help=LOG_MODEL_HELP, when="pipeline: train"),
)
