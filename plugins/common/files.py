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


STANDARD_FOLDERS = ("data", "models", "metrics", "plots", "reports")


def write_csv(path: Path, header: list[str], columns: list) -> Path:  # noqa: ANN001 - sequences or arrays
    """Columns (equal lengths) as a CSV with `header`."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(zip(*columns))
    return path


def log_standard_folders(context) -> None:  # noqa: ANN001 - a core.RunContext
    """Log each standard folder the run wrote, under its own name as `artifact_path`."""
    for folder in STANDARD_FOLDERS:
        if (context.artifact_dir / folder).is_dir():
            context.tracking.log_artifacts(context.artifact_dir / folder, artifact_path=folder)


def tag_purpose(context, spec, *, synthetic: bool) -> None:  # noqa: ANN001 - core.RunContext, core.RunSpec
    """`purpose` synthetic or realdata, unless the spec already says."""
    if "purpose" not in spec.tags and "purpose" not in spec.data_spec:
        context.tracking.set_tag("purpose", "synthetic" if synthetic else "realdata")
