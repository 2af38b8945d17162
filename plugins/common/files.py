"""Writing a run's small files (one JSON writer, one CSV writer for every family), logging the
standard folders, and reaching an earlier run's files through the context."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core import RunContext, RunFileNotFound, RunSpec, SpecError


def write_json(run_dir: Path, rel: Path, data: Any) -> Path:
    """`data` as indented, key-sorted JSON at `run_dir / rel` (folders made as needed)."""
    path = run_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


STANDARD_FOLDERS = ("data", "models", "metrics", "plots", "reports")


def write_csv(path: Path, header: Sequence[str], columns: Sequence[Iterable[Any]]) -> Path:
    """Columns (equal lengths) as a CSV with `header`."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(zip(*columns))
    return path


MLFLOW_MODEL = "mlflow_model"  # models/mlflow_model/: logged once, at artifact path `model` (common.mlflow_model)


def log_standard_folders(context: RunContext) -> None:
    """Log each standard folder the run wrote, under its own name as `artifact_path`; the MLflow
    Model in `models/` is left out (it is logged at `model`, and a second copy would double the
    stored weights)."""
    for folder in STANDARD_FOLDERS:
        path = context.artifact_dir / folder
        if not path.is_dir():
            continue
        if folder != "models" or not (path / MLFLOW_MODEL).is_dir():
            context.tracking.log_artifacts(path, artifact_path=folder)
            continue
        for child in sorted(p for p in path.iterdir() if p.name != MLFLOW_MODEL):
            if child.is_dir():
                context.tracking.log_artifacts(child, artifact_path=f"{folder}/{child.name}")
            else:
                context.tracking.log_artifact(child, artifact_path=folder)


def tag_purpose(context: RunContext, spec: RunSpec, *, synthetic: bool) -> None:
    """`purpose` synthetic or realdata, unless the spec already says."""
    if "purpose" not in spec.tags and "purpose" not in spec.data_spec:
        context.tracking.set_tag("purpose", "synthetic" if synthetic else "realdata")


def earlier_run_file(context: RunContext, run_id: str, rel: str | Path, *, field: str) -> Path:
    """`rel` (like `models/best.pt`) of earlier run `run_id`, through `context.run_file`: its folder
    where it is on this machine, else fetched from tracking. Not found is a `SpecError` naming the
    spec field that gave the run id (`data_spec.score.run_id`) and where core looked."""
    try:
        return context.run_file(run_id, Path(rel).as_posix())
    except RunFileNotFound as exc:
        raise SpecError(str(exc), field=field) from None
