"""Writing a run's small files: one JSON writer for every family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(run_dir: Path, rel: Path, data: Any) -> Path:
    """`data` as indented, key-sorted JSON at `run_dir / rel` (folders made as needed)."""
    path = run_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path
