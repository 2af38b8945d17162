"""MLflow Models for runs: resolving a model URI (`context.model`, checked before a run by
`core._inputs`), and what registering a FINISHED run's model sends (the journal's `register` record).

MLflow itself is reached only through the backend (`TrackingBackend.find_model`, `download_model`,
`register_model`), so this module stays light.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core._errors import ModelNotFound
from core._layout import RunLayout
from core._tracking.backend import RUN_ID_TAG, TrackingBackend
from core._tracking.model_uri import ModelVersion, parse_model_uri
from core.contracts import ResolvedModel, RunInput

_LOG = logging.getLogger("core.models")

#: where a run's MLflow Model is logged (`runs:/<mlflow run id>/model`), and what registration registers
MODEL_ARTIFACT_PATH = "model"
#: the version tag naming the run's headline metric (its value is the tag of that metric's name)
HEADLINE_TAG = "headline_metric"


def check_model_input(item: RunInput, backend: TrackingBackend, *, source: str | None = None) -> None:
    """The `ModelCheck` of `core._inputs`: the model `item.model_uri` names exists, else `ModelNotFound`
    (exit 2, naming the field, the URI and what exists). A backend that cannot answer (down, no
    registry) cannot tell: the run goes ahead and says clearly if the model really is missing."""
    uri = parse_model_uri(item.model_uri)
    try:
        backend.find_model(uri)
    except ModelNotFound as exc:
        where = f"{source}: field '{item.field}'" if source else f"field '{item.field}'"
        raise ModelNotFound(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - an unreachable tracking server does not stop a run
        _LOG.debug("cannot check %s against %s: %s", item.model_uri, backend.uri, exc)


def check_uri_form(item: RunInput, *, source: str | None = None) -> None:
    """A model input's URI has one of the forms core takes (no tracking needed): else `ModelNotFound`."""
    try:
        parse_model_uri(item.model_uri)
    except ModelNotFound as exc:
        where = f"{source}: field '{item.field}'" if source else f"field '{item.field}'"
        raise ModelNotFound(f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ModelLocator:
    """What stands behind `context.model`: the model a URI names, found through the run's tracking and
    downloaded into the run's `inputs/` (a registered version into `inputs/models/<name>-v<version>/`,
    a run's model into `inputs/<mlflow run id>/`), so the run folder records what it scored with."""

    into: RunLayout
    backend: TrackingBackend | None

    def __call__(self, uri: str) -> ResolvedModel:
        parsed = parse_model_uri(uri)
        if self.backend is None:
            raise ModelNotFound(f"{uri}: tracking is offline, so no model can be fetched")
        found = self.backend.find_model(parsed)  # ModelNotFound names what exists
        if found.name and found.version:
            dst = self.into.fetched_model(f"{found.name}-v{found.version}")
        else:
            dst = self.into.fetched_model(str(found.mlflow_run_id), registered=False)
        path = dst / str(found.artifact_path) if found.artifact_path else None
        if path is None or not (path / "MLmodel").is_file():  # fetched once per run, however often asked
            try:
                path = self.backend.download_model(found, dst)
            except Exception as exc:  # noqa: BLE001 - any backend failure is reported as one clear line
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise ModelNotFound(f"{uri}: found, but could not be fetched into {dst} ({reason})") from None
        return ResolvedModel(uri=uri, path=Path(path), name=found.name, version=found.version, run_id=found.run_id,
                             mlflow_run_id=found.mlflow_run_id)


def headline(metrics: Mapping[str, float]) -> tuple[str, float] | None:
    """The run's headline metric: its first `test_*` metric by name, else its first `val_*`, else none."""
    for prefix in ("test_", "val_"):
        names = sorted(k for k in metrics if k.startswith(prefix))
        if names:
            return names[0], metrics[names[0]]
    return None


def registration(request: Mapping[str, Any], *, run_id: str, plugin: str, metrics: Mapping[str, float],
                 artifact_paths: Iterable[str]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """For a FINISHED run whose spec asks to `register`: the `register` record's fields to journal, or,
    when the run logged no `model` artifact, no record and the result that says so (the run stays
    FINISHED). Returns `(record fields, result)`: exactly one is None."""
    name, alias = str(request["name"]), request.get("alias")
    logged = any(p == MODEL_ARTIFACT_PATH or p.startswith(f"{MODEL_ARTIFACT_PATH}/") for p in artifact_paths)
    if not logged:
        return None, {"name": name, "alias": alias, "version": None,
                      "error": f"not registered: the run logged no '{MODEL_ARTIFACT_PATH}' artifact "
                      "(its plugin saved no MLflow Model)"}
    tags = dict(request.get("tags") or {})
    tags.update({RUN_ID_TAG: run_id, "plugin": plugin})
    best = headline(metrics)
    if best is not None:
        tags[HEADLINE_TAG] = best[0]
        tags[best[0]] = repr(float(best[1]))
    return {"name": name, "alias": alias, "tags": tags, "artifact_path": MODEL_ARTIFACT_PATH, "run_id": run_id}, None


def describe(result: Mapping[str, Any] | None) -> str | None:
    """One line for a registration's result: `churn v3 @champion`, `churn: pending (core sync)`, the error."""
    if not result:
        return None
    name, alias = result.get("name"), result.get("alias")
    if result.get("error"):
        return f"{name}: {result['error']}"
    if not result.get("version"):
        return f"{name}{'@' + alias if alias else ''}: pending (send with core sync)"
    return f"{name} v{result['version']}" + (f" @{alias}" if alias else "")


def version_row(version: ModelVersion) -> dict[str, Any]:
    """A version as `core models` shows it: the source core run and the headline metric named."""
    metric = version.tags.get(HEADLINE_TAG)
    value = version.tags.get(metric) if metric else None
    return {"name": version.name, "version": version.version, "aliases": list(version.aliases),
            "run_id": version.run_id, "mlflow_run_id": version.mlflow_run_id,
            "plugin": version.tags.get("plugin"), "headline_metric": metric,
            "headline_value": float(value) if value is not None and _is_number(value) else value,
            "source": version.source, "created_ms": version.created_ms, "tags": dict(version.tags)}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
