"""Checkpoints: written atomically (a kill mid-save never leaves a torn file) and read back
with `weights_only=True`, so loading one cannot run code. An earlier run's checkpoint is
found through `context.run_file` (`plugins.common.files.earlier_run_file`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from core import SpecError


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file is bad input, said in one line
        raise SpecError(f"not a readable checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                        source=str(path)) from None


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """The RNG states a resumed run needs to continue exactly as an uninterrupted one."""
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
