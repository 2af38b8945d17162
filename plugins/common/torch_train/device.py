"""Pick the device a run trains on: `auto` is CUDA when available, else CPU."""

from __future__ import annotations

import torch

from core import SpecError


def resolve_device(name: str, *, field: str = "data_spec.train.device") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SpecError("CUDA is not available on this machine (use auto or cpu)", field=field,
                            allowed=("auto", "cpu"))
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SpecError(f"there are {torch.cuda.device_count()} CUDA devices", field=field)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SpecError("MPS is not available on this machine (use auto or cpu)", field=field, allowed=("auto", "cpu"))
    return device


def describe_device(device: torch.device) -> str:
    """`cpu` or `cuda:0 (NVIDIA H100 80GB HBM3)`: what the run records as `train.device_used`."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type
