"""What core leaves in every run folder, whatever happened: the summary and the error."""

from __future__ import annotations

import json
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from core._redact import scrub
from core._tracking.journal import atomic_write_json

SUMMARY_PATH = Path("summary") / "run_summary.json"
EXCEPTION_PATH = Path("errors") / "exception.txt"
SUMMARY_VERSION = 1


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z") if ts else None


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = run_dir / SUMMARY_PATH
    atomic_write_json(path, jsonable(summary))
    return path


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / SUMMARY_PATH).read_text(encoding="utf-8"))


def write_exception(run_dir: Path, exc: BaseException) -> Path:
    path = run_dir / EXCEPTION_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.write_text(scrub(text), encoding="utf-8")
    return path


def jsonable(value: Any) -> Any:
    """Outputs may hold numpy scalars, paths or sets: keep what JSON can say, stringify the rest."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)
