"""The `train` and `early_stopping` sections every torch-based family shares. Pure Python: no torch.

    train: {epochs: 20, batch_size: 64, optimizer: adam, lr: 0.001, weight_decay: 0.0,
            momentum: 0.9, schedule: {type: step, step_size: 10, gamma: 0.5}, device: auto,
            precision: fp32, compile: false}
    early_stopping: {metric: val_loss, patience: 5, min_delta: 0.0}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from core import ConfigField, SpecError
from plugins.common.fields import as_mapping, choice, number, only_fields

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "step", "cosine", "exponential", "plateau")
SCHEDULE_KNOBS = {"none": (), "step": ("step_size", "gamma"), "cosine": (), "exponential": ("gamma",),
                  "plateau": ("gamma", "patience")}
LOWER_IS_BETTER = ("loss", "rmse", "mae")
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")
PRECISIONS = ("fp32", "bf16", "fp16")  # (plugins.common.torch_train.accel, which needs torch, says the same)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


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
    precision: str = "fp32"
    compile: bool | str = False


@dataclass(frozen=True)
class EarlyStopping:
    metric: str = "val_loss"
    patience: int | None = None  # None: keep the best epoch, never stop early
    min_delta: float = 0.0

    @property
    def mode(self) -> str:
        return "min" if self.metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER else "max"


def parse_train(cfg: Mapping[str, Any], defaults: TrainConfig = TrainConfig()) -> TrainConfig:
    where = "data_spec.train"
    only_fields(cfg, ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "momentum", "schedule", "device",
                      "precision", "compile"), where)
    optimizer = choice(cfg, "optimizer", defaults.optimizer, where, OPTIMIZERS)
    if "momentum" in cfg and optimizer != "sgd":
        raise SpecError(f"only applies to optimizer: sgd (this run uses {optimizer})", field=f"{where}.momentum")
    device = cfg.get("device", defaults.device)
    if not (isinstance(device, str) and DEVICE.match(device)):
        raise SpecError(f"unknown device {device!r}", field=f"{where}.device",
                        allowed=("auto", "cpu", "cuda", "cuda:N", "mps"))
    return replace(
        defaults,
        epochs=number(cfg, "epochs", defaults.epochs, where, integer=True, low=1, high=100_000),
        batch_size=number(cfg, "batch_size", defaults.batch_size, where, integer=True, low=1, high=1_000_000),
        optimizer=optimizer,
        lr=number(cfg, "lr", defaults.lr, where, low=0.0, high=10.0, low_open=True),
        weight_decay=number(cfg, "weight_decay", defaults.weight_decay, where, low=0.0, high=1.0),
        momentum=number(cfg, "momentum", defaults.momentum, where, low=0.0, high=1.0),
        schedule=_schedule(cfg.get("schedule", "none")),
        device=device,
        precision=choice(cfg, "precision", defaults.precision, where, PRECISIONS),
        compile=_compile(cfg.get("compile", defaults.compile), where),
    )


def _compile(value: Any, where: str) -> bool | str:
    if isinstance(value, bool) or value in COMPILE_MODES:
        return value
    raise SpecError(f"must be true, false or a torch.compile mode, got {value!r}", field=f"{where}.compile",
                    allowed=(True, False, *COMPILE_MODES), got=value)


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


def parse_early_stopping(cfg: Mapping[str, Any], metrics: Sequence[str]) -> EarlyStopping:
    """`metrics`: the val metrics this family logs every epoch, any of which may be watched."""
    where = "data_spec.early_stopping"
    only_fields(cfg, ("metric", "patience", "min_delta"), where)
    patience = cfg.get("patience")
    if patience is not None:
        patience = number(cfg, "patience", None, where, integer=True, low=1)
    return EarlyStopping(
        metric=choice(cfg, "metric", "val_loss", where, metrics),
        patience=patience,
        min_delta=number(cfg, "min_delta", 0.0, where, low=0.0),
    )


def train_params(train: TrainConfig, stopping: EarlyStopping) -> dict[str, Any]:
    """`train.*` params: only the knobs that apply (momentum for sgd, the schedule's own)."""
    values = asdict(train)
    schedule = values.pop("schedule")
    if train.optimizer != "sgd":
        values.pop("momentum")
    out = {f"train.{k}": v for k, v in values.items()}
    out["train.schedule"] = schedule["type"]
    out.update({f"train.schedule_{k}": schedule[k] for k in SCHEDULE_KNOBS[schedule["type"]]})
    out["train.early_stopping_metric"] = stopping.metric
    out["train.early_stopping_patience"] = stopping.patience
    return out


def training_fields(defaults: TrainConfig, metrics: Sequence[str]) -> tuple[ConfigField, ...]:
    """The `train` and `early_stopping` fields, for `core plugins show`."""
    return (
        ConfigField("train.epochs", "int", defaults.epochs, ">= 1"),
        ConfigField("train.batch_size", "int", defaults.batch_size, ">= 1"),
        ConfigField("train.optimizer", "str", defaults.optimizer, OPTIMIZERS),
        ConfigField("train.lr", "float", defaults.lr, "(0, 10]", "learning rate"),
        ConfigField("train.weight_decay", "float", defaults.weight_decay, "[0, 1]"),
        ConfigField("train.momentum", "float", defaults.momentum, "[0, 1]", when="train.optimizer: sgd"),
        ConfigField("train.schedule", "str or mapping", "none", SCHEDULES,
                    "per-epoch learning-rate schedule; a mapping gives its knobs: step_size, gamma, patience"),
        ConfigField("train.device", "str", defaults.device, ("auto", "cpu", "cuda", "cuda:N", "mps"),
                    "auto: CUDA when available, else CPU"),
        ConfigField("train.precision", "str", defaults.precision, PRECISIONS,
                    "mixed precision via torch.autocast (fp16 with a gradient scaler, CUDA only; bf16 on CUDA or a "
                    "CPU with native bfloat16); refused where the device cannot do it"),
        ConfigField("train.compile", "bool or str", defaults.compile, (False, True, *COMPILE_MODES),
                    "torch.compile the model for training; the first step's time, compile included, is logged as "
                    "train_compile_seconds"),
        ConfigField("early_stopping.metric", "str", "val_loss", tuple(metrics), "the val metric that picks the best epoch"),
        ConfigField("early_stopping.patience", "int", None, ">= 1", "epochs without improvement before stopping; "
                    "unset: never stop early"),
        ConfigField("early_stopping.min_delta", "float", 0.0, ">= 0"),
    )
