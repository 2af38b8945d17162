"""Optimizers and learning-rate schedules from validated config values."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

# ReduceLROnPlateau is an LRScheduler from torch 2.2 on; named for the versions before.
Scheduler = LRScheduler | ReduceLROnPlateau


def build_optimizer(params: Iterable[nn.Parameter], *, name: str, lr: float, weight_decay: float,
                    momentum: float = 0.9) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}")  # config validation makes this unreachable


def build_scheduler(optimizer: torch.optim.Optimizer, *, kind: str, epochs: int, step_size: int = 10,
                    gamma: float = 0.5, patience: int = 2, mode: str = "min") -> Scheduler | None:
    """Stepped once per epoch (`step_scheduler`). None for a constant learning rate."""
    if kind == "none":
        return None
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if kind == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=gamma, patience=patience)
    raise ValueError(f"unknown schedule {kind!r}")


def step_scheduler(scheduler: Scheduler | None, monitored: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(monitored)
    else:
        scheduler.step()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])
