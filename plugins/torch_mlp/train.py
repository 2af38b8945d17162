"""The training loop: one epoch at a time, validation after each, every epoch's metrics logged with
`step=epoch`, `last.pt` rewritten each epoch and `best.pt` whenever the watched metric improves.

A `Training` holds everything a checkpoint must capture to continue exactly where it stopped:
weights, optimizer and schedule state, the best-epoch tracker, the history and the RNG states.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core import ProgressBar, RunContext, RunFileNotFound, SpecError
from plugins.common.torch_train.accel import Accel, StepTimer, batch_to, compiled, peak_memory_mb, to_device
from plugins.common.torch_train.optim import (
    Scheduler,
    build_optimizer,
    build_scheduler,
    current_lr,
    step_scheduler,
)
from plugins.common.torch_train.stopping import BestTracker
from plugins.torch_common.checkpoint import restore_rng, rng_state, save_checkpoint
from plugins.torch_mlp import artifacts
from plugins.torch_mlp.config import MlpConfig
from plugins.torch_mlp.data import Encoder, TensorSplit
from plugins.torch_mlp.eval import loss_fn, measure, predict
from plugins.torch_mlp.model import build_mlp


@dataclass
class Training:
    cfg: MlpConfig
    enc: Encoder
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler | None
    tracker: BestTracker
    generator: torch.Generator
    device: torch.device
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_done: list[int] = field(default_factory=list)
    stopped_early: bool = False
    accel: Accel = field(init=False)
    #: what trains: `model` itself, or `torch.compile(model)` (checkpoints save `model`'s state, unprefixed)
    train_model: nn.Module = field(init=False)
    timer: StepTimer = field(init=False)

    def __post_init__(self) -> None:
        self.accel = Accel(self.device, self.cfg.train.precision)
        self.train_model = compiled(self.model, self.cfg.train.compile)
        self.timer = StepTimer(self.device)

    @classmethod
    def new(cls, cfg: MlpConfig, enc: Encoder, device: torch.device, seed: int | None) -> Training:
        generator = torch.Generator()
        generator.manual_seed(seed if seed is not None else torch.seed())
        model = build_mlp(enc.n_inputs, enc.n_outputs, cfg.model).to(device)
        t = cfg.train
        optimizer = build_optimizer(model.parameters(), name=t.optimizer, lr=t.lr, weight_decay=t.weight_decay,
                                    momentum=t.momentum)
        stop = cfg.early_stopping
        scheduler = build_scheduler(optimizer, kind=t.schedule.type, epochs=t.epochs, step_size=t.schedule.step_size,
                                    gamma=t.schedule.gamma, patience=t.schedule.patience, mode=stop.mode)
        tracker = BestTracker(stop.metric, stop.mode, stop.patience, stop.min_delta)
        return cls(cfg, enc, model, optimizer, scheduler, tracker, generator, device)

    @property
    def last_epoch(self) -> int:
        return self.epochs_done[-1] if self.epochs_done else 0

    def checkpoint(self, run_id: str) -> dict[str, Any]:
        return {
            "format": artifacts.CHECKPOINT_FORMAT,
            "run_id": run_id,
            "epoch": self.last_epoch,
            "network": self.cfg.network(),
            "train": {k: v for k, v in asdict(self.cfg.train).items() if k != "schedule"},
            "encoder": self.enc.to_dict(),
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler_state": self.accel.state_dict(),
            "tracker": self.tracker.state_dict(),
            "history": self.history,
            "epochs_done": self.epochs_done,
            "rng": rng_state(self.generator),
        }

    def resume_from(self, ckpt: dict[str, Any], source: str) -> None:
        """Continue from a `last.pt`: its network must match this config's."""
        check_network(ckpt, self.cfg, source=source, field="data_spec.resume.run_id")
        if ckpt["epoch"] >= self.cfg.train.epochs:
            raise SpecError(f"run '{ckpt['run_id']}' already trained {ckpt['epoch']} epochs; set data_spec.train.epochs "
                            "higher to continue it", field="data_spec.train.epochs")
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        if self.scheduler is not None and ckpt["scheduler_state"] is not None:
            self.scheduler.load_state_dict(ckpt["scheduler_state"])
        self.accel.load_state_dict(ckpt.get("scaler_state"))
        self.tracker = BestTracker.from_state({**ckpt["tracker"], "patience": self.tracker.patience})
        self.history = {k: list(v) for k, v in ckpt["history"].items()}
        self.epochs_done = list(ckpt["epochs_done"])
        restore_rng(ckpt["rng"], self.generator)

    def fit(self, data: TensorSplit, *, run_id: str, run_dir: Path,
            log_metrics: Callable[[dict[str, float], int], None], logger: logging.Logger,
            progress: ProgressBar) -> None:
        """Train from the epoch after the last one done to `train.epochs`, or until early stopping."""
        criterion = loss_fn(self.cfg.task)
        X_train, y_train = to_device((data.X_train, data.y_train), self.device)  # once, where it fits
        first_epoch = self.last_epoch + 1
        for epoch in range(first_epoch, self.cfg.train.epochs + 1):
            self.timer.start_epoch()
            metrics = {"train_loss": self._train_epoch(X_train, y_train, criterion)}
            metrics["train_epoch_seconds"] = self.timer.epoch_seconds()
            if self.cfg.train.compile is not False and self.timer.first_step_s is not None and epoch == first_epoch:
                metrics["train_compile_seconds"] = self.timer.first_step_s
            metrics.update(measure(predict(self.model, data.X_val, device=self.device), data.y_val, self.enc, "val"))
            metrics["train_lr"] = current_lr(self.optimizer)
            peak = peak_memory_mb(self.device)
            if peak is not None:
                metrics["train_gpu_peak_mem_mb"] = peak
            improved = self.tracker.update(epoch, metrics[self.tracker.metric])
            step_scheduler(self.scheduler, metrics[self.tracker.metric])
            for name, value in metrics.items():
                if name != "train_compile_seconds":  # once per run, not per epoch: the history stays a table
                    self.history.setdefault(name, []).append(value)
            self.epochs_done.append(epoch)
            # Checkpoints before the metrics are logged: a search's pruner stops the run from that call
            # (core.RunPruned), and the run then keeps this epoch's last.pt, as on early stopping.
            payload = self.checkpoint(run_id)
            if improved:
                save_checkpoint(run_dir / artifacts.BEST, payload)
            save_checkpoint(run_dir / artifacts.LAST, payload)
            log_metrics(metrics, epoch)
            logger.info("epoch %d/%d: %s%s", epoch, self.cfg.train.epochs,
                        ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()), " (best)" if improved else "")
            progress.update(1, loss=metrics["train_loss"], **{self.tracker.metric: metrics[self.tracker.metric]})
            if self.tracker.should_stop:
                self.stopped_early = True
                logger.info("early stopping after epoch %d: %s has not improved for %d epochs (best %.4g at epoch %d)",
                            epoch, self.tracker.metric, self.tracker.patience, self.tracker.best_value,
                            self.tracker.best_epoch)
                break

    def _train_epoch(self, X: torch.Tensor, y: torch.Tensor, criterion: nn.Module) -> float:
        """One pass over the rows in a seeded order. The loss is summed on the device and read once at the
        end: no per-batch host sync, so the GPU is never left waiting for Python."""
        self.model.train()
        order = torch.randperm(len(X), generator=self.generator).to(X.device)
        size = self.cfg.train.batch_size
        # float64 where the device has it (MPS does not): the sum of many batch losses keeps its digits
        total = torch.zeros((), device=self.device, dtype=torch.float32 if self.device.type == "mps" else torch.float64)
        seen = 0
        for start in range(0, len(X), size):
            index = order[start:start + size]
            if len(index) == 1 and self.cfg.model.batch_norm and seen:
                continue  # batch norm cannot train on one row; that row is used next epoch
            xb, yb = batch_to(X[index], self.device), batch_to(y[index], self.device)

            def step(xb: torch.Tensor = xb, yb: torch.Tensor = yb) -> torch.Tensor:
                self.optimizer.zero_grad(set_to_none=True)
                with self.accel.autocast():
                    out = self.train_model(xb)
                    loss = criterion(out.reshape(-1) if self.cfg.task == "regression" else out, yb)
                self.accel.step(loss, self.optimizer)
                return loss

            loss = self.timer.first_step(step)
            total += loss.detach().to(total.dtype) * len(index)
            seen += len(index)
        return float(total.item()) / max(seen, 1)


def carry_best(context: RunContext, run_id: str) -> None:
    """A resumed run starts with the earlier run's `best.pt` (from its folder, or fetched from
    tracking), which stays best until this run improves on it."""
    try:
        best = context.run_file(run_id, artifacts.BEST.as_posix())
    except RunFileNotFound:
        return  # no epoch of that run was ever best (every value NaN): this run's first epoch will be
    target = context.artifact_dir / artifacts.BEST
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, target)


def check_format(ckpt: dict[str, Any], *, source: str, field: str) -> None:
    if ckpt.get("format") != artifacts.CHECKPOINT_FORMAT:
        raise SpecError(f"not a torch_mlp checkpoint (format {ckpt.get('format')!r})", source=source, field=field)


def check_network(ckpt: dict[str, Any], cfg: MlpConfig, *, source: str, field: str) -> None:
    check_format(ckpt, source=source, field=field)
    if ckpt["network"] != cfg.network():
        diff = {k: ckpt["network"].get(k) for k in cfg.network() if ckpt["network"].get(k) != cfg.network()[k]}
        raise SpecError(f"the checkpoint's network differs from this spec's: it has {diff}", source=source,
                        field="data_spec.model")


def model_from_checkpoint(ckpt: dict[str, Any], device: torch.device) -> tuple[nn.Module, Encoder]:
    """The trained network (eval mode) and its encoder, for scoring."""
    from plugins.torch_mlp.config import ModelConfig

    enc = Encoder.from_dict(ckpt["encoder"])
    net = dict(ckpt["network"])
    net.pop("task")
    model = build_mlp(enc.n_inputs, enc.n_outputs, ModelConfig(**{**net, "hidden": tuple(net["hidden"])}))
    model.load_state_dict(ckpt["model_state"])
    return model.to(device).eval(), enc
