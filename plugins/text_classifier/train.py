"""The training loop: tokenised splits as tensors, one epoch at a time, validation after each,
every epoch's metrics logged with `step=epoch`; the best epoch's weights kept in memory and
saved with `save_pretrained` at the end (or when the run is cut short)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from core import ProgressBar
from plugins.common.torch_train.accel import Accel, StepTimer, compiled, peak_memory_mb
from plugins.common.torch_train.metrics import classification_metrics
from plugins.common.torch_train.optim import (
    Scheduler,
    build_optimizer,
    build_scheduler,
    current_lr,
    step_scheduler,
)
from plugins.common.torch_train.stopping import BestTracker
from plugins.text_classifier.config import TextConfig
from plugins.text_classifier.data import Texts

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class Encoded:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.input_ids)

    def batch(self, index: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        mask = self.attention_mask[index]
        width = max(int(mask.sum(dim=1).max()), 1)  # trim the padding this batch does not need
        pin = device.type == "cuda"  # pinned host memory: the copy to the GPU overlaps the work before it
        ids, mask = self.input_ids[index, :width], mask[:, :width]
        out = {"input_ids": _to(ids, device, pin), "attention_mask": _to(mask, device, pin)}
        if self.labels is not None:
            out["labels"] = _to(self.labels[index], device, pin)
        return out


def _to(tensor: torch.Tensor, device: torch.device, pin: bool) -> torch.Tensor:
    return (tensor.pin_memory() if pin else tensor).to(device, non_blocking=pin)


def encode(tokenizer: PreTrainedTokenizerBase, data: Texts, labels: list[str], max_length: int) -> Encoded:
    """Labels not among `labels` (scoring data) become -1: counted wrong, never a crash."""
    tokens = tokenizer(data.texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    y = None
    if data.labels is not None:
        index = {label: i for i, label in enumerate(labels)}
        y = torch.tensor([index.get(label, -1) for label in data.labels], dtype=torch.long)
    return Encoded(tokens["input_ids"], tokens["attention_mask"], y)


@torch.no_grad()
def predict_logits(model: PreTrainedModel, data: Encoded, *, device: torch.device,
                   batch_size: int = 64) -> torch.Tensor:
    model.eval()
    outs = []
    for start in range(0, len(data), batch_size):
        batch = data.batch(torch.arange(start, min(start + batch_size, len(data))), device)
        batch.pop("labels", None)
        outs.append(model(**batch).logits.float().cpu())
    return torch.cat(outs) if outs else torch.empty(0)


@dataclass
class TextTraining:
    cfg: TextConfig
    model: PreTrainedModel
    labels: list[str]
    device: torch.device
    generator: torch.Generator
    optimizer: torch.optim.Optimizer = field(init=False)
    scheduler: Scheduler | None = field(init=False)
    tracker: BestTracker = field(init=False)
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_done: list[int] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    stopped_early: bool = False
    accel: Accel = field(init=False)
    #: what trains: `model` itself, or `torch.compile(model)` (what is saved is always `model`)
    train_model: nn.Module = field(init=False)
    timer: StepTimer = field(init=False)

    def __post_init__(self) -> None:
        t, stop = self.cfg.train, self.cfg.early_stopping
        self.model.to(self.device)
        self.accel = Accel(self.device, t.precision)
        self.train_model = compiled(self.model, t.compile)
        self.timer = StepTimer(self.device)
        self.optimizer = build_optimizer(self.model.parameters(), name=t.optimizer, lr=t.lr,
                                         weight_decay=t.weight_decay, momentum=t.momentum)
        self.scheduler = build_scheduler(self.optimizer, kind=t.schedule.type, epochs=t.epochs,
                                         step_size=t.schedule.step_size, gamma=t.schedule.gamma,
                                         patience=t.schedule.patience, mode=stop.mode)
        self.tracker = BestTracker(stop.metric, stop.mode, stop.patience, stop.min_delta)

    def fit(self, train: Encoded, val: Encoded, *, log_metrics: Callable[[dict[str, float], int], None],
            logger: logging.Logger, progress: ProgressBar) -> None:
        for epoch in range(1, self.cfg.train.epochs + 1):
            self.timer.start_epoch()
            metrics = {"train_loss": self._train_epoch(train)}
            metrics["train_epoch_seconds"] = self.timer.epoch_seconds()
            if self.cfg.train.compile is not False and epoch == 1 and self.timer.first_step_s is not None:
                metrics["train_compile_seconds"] = self.timer.first_step_s
            logits = predict_logits(self.model, val, device=self.device)
            metrics.update(classification_metrics(logits, val.labels, len(self.labels), "val"))
            metrics["train_lr"] = current_lr(self.optimizer)
            peak = peak_memory_mb(self.device)
            if peak is not None:
                metrics["train_gpu_peak_mem_mb"] = peak
            watched = metrics[self.tracker.metric]
            improved = self.tracker.update(epoch, watched)
            if improved:
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            step_scheduler(self.scheduler, watched)
            for name, value in metrics.items():
                if name != "train_compile_seconds":  # once per run, not per epoch: the history stays a table
                    self.history.setdefault(name, []).append(value)
            self.epochs_done.append(epoch)
            log_metrics(metrics, epoch)
            logger.info("epoch %d/%d: %s%s", epoch, self.cfg.train.epochs,
                        ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()), " (best)" if improved else "")
            progress.update(1, loss=metrics["train_loss"], **{self.tracker.metric: watched})
            if self.tracker.should_stop:
                self.stopped_early = True
                logger.info("early stopping after epoch %d: best %s %.4g at epoch %d", epoch, self.tracker.metric,
                            self.tracker.best_value, self.tracker.best_epoch)
                break

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def _train_epoch(self, data: Encoded) -> float:
        """One pass in a seeded order; the loss is summed on the device and read once per epoch."""
        self.model.train()
        order = torch.randperm(len(data), generator=self.generator)
        size = self.cfg.train.batch_size
        total = torch.zeros((), device=self.device, dtype=torch.float32 if self.device.type == "mps" else torch.float64)
        seen = 0
        for start in range(0, len(data), size):
            index = order[start:start + size]
            batch = data.batch(index, self.device)

            def step(batch: dict[str, torch.Tensor] = batch) -> torch.Tensor:
                self.optimizer.zero_grad(set_to_none=True)
                with self.accel.autocast():
                    loss = self.train_model(**batch).loss
                self.accel.step(loss, self.optimizer)
                return loss

            loss = self.timer.first_step(step)
            total += loss.detach().to(total.dtype) * len(index)
            seen += len(index)
        return float(total.item()) / max(seen, 1)
