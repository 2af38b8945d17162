"""Typed field checks for plugin configs: each error is a `SpecError` naming the field and what is allowed."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core import SpecError

_MISSING = object()


def as_mapping(value: Any, field_name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"must be a mapping, got {value!r}", field=field_name)
    return value


def only_fields(cfg: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = [k for k in cfg if k not in allowed]
    if unknown:
        raise SpecError("unknown field", field=f"{where}.{unknown[0]}", allowed=tuple(allowed), got=unknown[0])


def number(cfg: Mapping[str, Any], key: str, default: Any, where: str, *, integer: bool = False,
           low: float | None = None, high: float | None = None, low_open: bool = False) -> Any:
    """`cfg[key]` (or `default`) as an int or float within [low, high] (`low_open`: (low, high])."""
    value = cfg.get(key, default)
    name = f"{where}.{key}"
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise SpecError(f"must be {kind}, got {value!r}", field=name)
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        lo = "" if low is None else f"{'(' if low_open else '['}{low:g}"
        hi = "" if high is None else f"{high:g}]"
        bounds = f"{lo}, {hi}" if lo and hi else (f"> {low:g}" if low_open else f">= {low:g}") if lo else f"<= {high:g}"
        raise SpecError(f"must be {kind} {'in ' + bounds if lo and hi else bounds}, got {value!r}", field=name)
    return value if integer else float(value)


def choice(cfg: Mapping[str, Any], key: str, default: Any, where: str, allowed: Sequence[str]) -> str:
    value = cfg.get(key, default)
    if value not in allowed:
        raise SpecError(f"unknown value {value!r}", field=f"{where}.{key}", allowed=tuple(allowed), got=value)
    return value


def boolean(cfg: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise SpecError(f"must be true or false, got {value!r}", field=f"{where}.{key}")
    return value


def run_id(cfg: Mapping[str, Any], where: str, *, required: bool, purpose: str) -> str | None:
    """`cfg["run_id"]`: the id of an earlier run (a training run to score or resume from)."""
    value = cfg.get("run_id", _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise SpecError(f"is required ({purpose})", field=f"{where}.run_id")
        return None
    if not isinstance(value, str) or not value:
        raise SpecError(f"must be a run id ({purpose}), got {value!r}", field=f"{where}.run_id")
    return value


def local_checks() -> bool:
    """Whether `validate` may check this machine's files and devices. Not on a sweep driver whose runs
    execute on a cluster's nodes (`CORE_VALIDATION=portable`): there the node that runs checks them,
    still before its run folder is made."""
    return os.environ.get("CORE_VALIDATION") != "portable"


def existing_path(path: str, field_name: str, *, folder: bool = False) -> str:
    """A path the spec names that must exist now (a CSV to read, a saved model folder): checked when
    the spec is validated, so a typo is bad input (exit 2) before any run folder is made."""
    if not local_checks():
        return path
    found = Path(path)
    if not found.exists():
        raise SpecError("file not found" if not folder else "folder not found", source=path, field=field_name)
    if folder and not found.is_dir():
        raise SpecError("not a folder", source=path, field=field_name)
    if not folder and not found.is_file():
        raise SpecError("not a file", source=path, field=field_name)
    return path

