"""Speed on accelerators, shared by the torch families: mixed precision (`train.precision`),
`torch.compile` (`train.compile`), data moved to the device once, and what a run records about
its device (name, peak memory, epoch time).

Nothing here changes what a CPU fp32 run computes: autocast and the gradient scaler are off at
fp32, compile is off by default, and on a CPU the data already is where the model is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from core import SpecError

PRECISIONS = ("fp32", "bf16", "fp16")
#: `train.compile`: false, true (torch.compile's default mode) or one of its modes by name
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
#: a data set up to this many bytes is moved to the GPU once instead of batch by batch
RESIDENT_BYTES = 1 << 30
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def precision_problem(precision: str, device: torch.device) -> str | None:
    """Why `device` cannot train at `precision`, or None when it can."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            return f"{torch.cuda.get_device_name(device)} has no bfloat16 support; use fp16 or fp32"
        return None
    if device.type == "cpu":
        if precision == "fp16":
            return "fp16 mixed precision needs a CUDA device (on a CPU use bf16 where it is supported, or fp32)"
        if not cpu_has_bf16():
            return "this CPU has no native bfloat16 (AVX512-BF16 or AMX); use fp32"
        return None
    return f"{precision} mixed precision is supported on cuda and cpu, not {device.type}; use fp32"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (where autocast to bf16 is worth it)."""
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((check and check()) or (amx and amx()))


@dataclass
class Accel:
    """How a run computes on its device: autocast dtype and, for fp16, the gradient scaler."""

    device: torch.device
    precision: str = "fp32"

    def __post_init__(self) -> None:
        problem = precision_problem(self.precision, self.device)
        if problem:
            raise SpecError(problem, field="data_spec.train.precision", allowed=PRECISIONS)
        self.dtype = _DTYPES.get(self.precision)
        if self.device.type == "cuda":
            # the same seed, the same numbers: cuDNN picks no kernel by timing, and only deterministic ones
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            yield

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimizer step, through the gradient scaler at fp16."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict | None:
        """What a checkpoint keeps so a resumed fp16 run scales as the uninterrupted one would (the scale
        grown or backed off over many steps); None when there is no scaler."""
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        # a checkpoint from before the scaler was saved, or from another precision, restarts the scale
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def compiled(model: nn.Module, setting: bool | str) -> nn.Module:
    """`torch.compile(model)` for training when asked; the module itself otherwise. Checkpoints keep
    saving `model.state_dict()` of the original module (a compiled one prefixes every key)."""
    if setting is False:
        return model
    return torch.compile(model, mode=None if setting in (True, "default") else str(setting))


class StepTimer:
    """The wall time of the first training step (with `train.compile`, compiling happens there) and of
    each epoch; on CUDA it waits for the device, so the times are the device's, not the launch's."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.first_step_s: float | None = None
        self._epoch_start = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start_epoch(self) -> None:
        self._sync()
        self._epoch_start = time.perf_counter()

    def epoch_seconds(self) -> float:
        self._sync()
        return time.perf_counter() - self._epoch_start

    def first_step(self, step: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Run one step, timing it if it is the run's first."""
        if self.first_step_s is not None:
            return step()
        self._sync()
        start = time.perf_counter()
        out = step()
        self._sync()
        self.first_step_s = time.perf_counter() - start
        return out


def to_device(tensors: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The training tensors where the batches will be cut from: on a GPU once when they fit
    (`RESIDENT_BYTES`), so no batch is copied from the host; else pinned host memory, so each
    batch's copy is asynchronous (`batch_to`). On a CPU, as they are."""
    if device.type != "cuda":
        return tensors
    size = sum(t.element_size() * t.nelement() for t in tensors)
    if size <= RESIDENT_BYTES:
        return tuple(t.to(device, non_blocking=True) for t in tensors)
    return tuple(t.pin_memory() for t in tensors)


def batch_to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch on `device`: no copy when it already is there, an asynchronous one from pinned memory."""
    return tensor if tensor.device == device else tensor.to(device, non_blocking=True)


def peak_memory_mb(device: torch.device) -> float | None:
    """The most GPU memory this process held on `device` (MiB), for `train_gpu_peak_mem_mb`; None off CUDA."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def check_device_and_precision(device_name: str, precision: str) -> None:
    """For a plugin's `validate`: the device exists here and can train at `precision` (SpecError, exit 2,
    before any run folder; `auto` is checked as what it resolves to on this machine)."""
    from plugins.common.fields import local_checks
    from plugins.common.torch_train.device import resolve_device

    if not local_checks():  # a sweep driver for a cluster: the node with the GPU checks it
        return
    device = resolve_device(device_name)
    problem = precision_problem(precision, device)
    if problem:
        raise SpecError(problem, field="data_spec.train.precision", allowed=PRECISIONS)
