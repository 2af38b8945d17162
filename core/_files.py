"""Writing files so that readers see the old version or the new one, never half of one.

Used for every file core rewrites in place: run summaries, the journal's state, a sweep's
state, plan and results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Any) -> None:
    """`data` as indented JSON, atomically (see `atomic_write_text`)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
