"""Checkpoints: written atomically (a kill mid-save never leaves a torn file) and read back
with `weights_only=True`, so loading one cannot run code. Found in the run folder of the
run that wrote them, or, when that folder is gone, in its tracked artifacts."""

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


def load_checkpoint(path: Path, *, map_location="cpu") -> dict[str, Any]:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file is bad input, said in one line
        raise SpecError(f"not a readable checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                        source=str(path)) from None


def locate_run_file(context, run_id: str, rel: str, *, field: str) -> Path:
    """`rel` (like `models/best.pt`) of an earlier run: its folder first, then tracking."""
    folder = context.artifact_dir.parent / run_id
    if (folder / rel).is_file():
        return folder / rel
    try:
        dst = Path(tempfile.mkdtemp(prefix="mlcore-fetch-", dir=context.artifact_dir))
        return Path(context.tracking.download_artifact(run_id, rel, dst))
    except Exception as exc:  # noqa: BLE001 - reported as one clear line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SpecError(f"no {rel} for run '{run_id}': not in {folder} and not in tracking ({reason})",
                        field=field) from None


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
