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
    score: {run_id: <a finished torch_mlp run>}                       # pipeline: score only
    plots: true
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from core import SpecError
from plugins.common.fields import (
    as_mapping,
    boolean,
    choice,
    number,
    only_fields,
    run_id,
)
from plugins.sklearn_common.config import DataConfig, parse_data, parse_split

TASKS = ("classification", "regression")
PIPELINES = ("train", "score")
ACTIVATIONS = ("relu", "gelu", "tanh", "leaky_relu", "elu", "silu")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "step", "cosine", "exponential", "plateau")
SCHEDULE_KNOBS = {"none": (), "step": ("step_size", "gamma"), "cosine": (), "exponential": ("gamma",),
                  "plateau": ("gamma", "patience")}
VAL_METRICS = {
    "classification": ("val_loss", "val_accuracy", "val_f1_macro"),
    "regression": ("val_loss", "val_rmse", "val_mae", "val_r2"),
}
LOWER_IS_BETTER = ("loss", "rmse", "mae")
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")
FIELDS = ("task", "pipeline", "data", "split", "model", "train", "early_stopping", "resume", "score",
          "plots", "purpose")


@dataclass(frozen=True)
class ModelConfig:
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    type: str = "none"
    step_size: int = 10  # step
    gamma: float = 0.5  # step, exponential, plateau (the factor)
    patience: int = 2  # plateau


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    schedule: ScheduleConfig = ScheduleConfig()
    device: str = "auto"


@dataclass(frozen=True)
class EarlyStopping:
    metric: str = "val_loss"
    patience: int | None = None  # None: keep the best epoch, never stop early
    min_delta: float = 0.0

    @property
    def mode(self) -> str:
        return "min" if self.metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER else "max"


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

    def params(self) -> dict[str, Any]:
        """Structured params: `model.*` the network, `train.*` how it is trained."""
        out: dict[str, Any] = {"model.type": "mlp", "model.task": self.task}
        out.update({f"model.{k}": (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.model).items()})
        train = asdict(self.train)
        schedule = train.pop("schedule")
        if self.train.optimizer != "sgd":
            train.pop("momentum")
        out.update({f"train.{k}": v for k, v in train.items()})
        out["train.schedule"] = schedule["type"]
        out.update({f"train.schedule_{k}": schedule[k] for k in SCHEDULE_KNOBS[schedule["type"]]})
        out["train.early_stopping_metric"] = self.early_stopping.metric
        out["train.early_stopping_patience"] = self.early_stopping.patience
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
    train = _train(as_mapping(data_spec.get("train", {}), "data_spec.train"))
    stopping = _early_stopping(as_mapping(data_spec.get("early_stopping", {}), "data_spec.early_stopping"), task)
    resume = as_mapping(data_spec.get("resume", {}), "data_spec.resume")
    only_fields(resume, ("run_id",), "data_spec.resume")
    score = as_mapping(data_spec.get("score", {}), "data_spec.score")
    only_fields(score, ("run_id",), "data_spec.score")
    score_id = run_id(score, "data_spec.score", required=pipeline == "score",
                      purpose="the id of a finished torch_mlp training run")
    resume_id = run_id(resume, "data_spec.resume", required=False, purpose="the torch_mlp run to continue")
    if resume_id and pipeline == "score":
        raise SpecError("only applies to pipeline: train", field="data_spec.resume")
    plots = boolean(data_spec, "plots", True, "data_spec")
    return MlpConfig(task, pipeline, data, split, model, train, stopping, resume_id, score_id, plots)


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


def _train(cfg: Mapping[str, Any]) -> TrainConfig:
    where = "data_spec.train"
    only_fields(cfg, ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "momentum", "schedule", "device"),
                where)
    optimizer = choice(cfg, "optimizer", TrainConfig.optimizer, where, OPTIMIZERS)
    if "momentum" in cfg and optimizer != "sgd":
        raise SpecError(f"only applies to optimizer: sgd (this run uses {optimizer})", field=f"{where}.momentum")
    device = cfg.get("device", TrainConfig.device)
    if not (isinstance(device, str) and DEVICE.match(device)):
        raise SpecError(f"unknown device {device!r}", field=f"{where}.device",
                        allowed=("auto", "cpu", "cuda", "cuda:N", "mps"))
    return TrainConfig(
        epochs=number(cfg, "epochs", TrainConfig.epochs, where, integer=True, low=1, high=100_000),
        batch_size=number(cfg, "batch_size", TrainConfig.batch_size, where, integer=True, low=1, high=1_000_000),
        optimizer=optimizer,
        lr=number(cfg, "lr", TrainConfig.lr, where, low=0.0, high=10.0, low_open=True),
        weight_decay=number(cfg, "weight_decay", TrainConfig.weight_decay, where, low=0.0, high=1.0),
        momentum=number(cfg, "momentum", TrainConfig.momentum, where, low=0.0, high=1.0),
        schedule=_schedule(cfg.get("schedule", "none")),
        device=device,
    )


def _schedule(value: Any) -> ScheduleConfig:
    where = "data_spec.train.schedule"
    cfg = {"type": value} if isinstance(value, str) else as_mapping(value, where)
    kind = choice(cfg, "type", "none", where, SCHEDULES)
    only_fields(cfg, ("type", *SCHEDULE_KNOBS[kind]), where)
    return ScheduleConfig(
        type=kind,
        step_size=number(cfg, "step_size", ScheduleConfig.step_size, where, integer=True, low=1),
        gamma=number(cfg, "gamma", ScheduleConfig.gamma, where, low=0.0, high=1.0, low_open=True),
        patience=number(cfg, "patience", ScheduleConfig.patience, where, integer=True, low=0),
    )


def _early_stopping(cfg: Mapping[str, Any], task: str) -> EarlyStopping:
    where = "data_spec.early_stopping"
    only_fields(cfg, ("metric", "patience", "min_delta"), where)
    patience = cfg.get("patience")
    if patience is not None:
        patience = number(cfg, "patience", None, where, integer=True, low=1)
    return EarlyStopping(
        metric=choice(cfg, "metric", "val_loss", where, VAL_METRICS[task]),
        patience=patience,
        min_delta=number(cfg, "min_delta", 0.0, where, low=0.0),
    )
