"""A recording tracking backend for tests (`CORE_TRACKING_URI=memory`).

Public and explicit, like httpx's `MockTransport`: it implements exactly the
`TrackingBackend` contract (no catch-all), keeps everything in memory, and has
query helpers so tests read as specifications.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from core._errors import ModelNotFound, TrackingError
from core._tracking.backend import RUN_ID_TAG, Metric, ModelNotLogged, Registered, TrackingBackend
from core._tracking.model_uri import ModelUri, ModelVersion, missing
from core.contracts import RunStatus


@dataclass
class FakeRun:
    run_id: str
    experiment: str
    run_name: str
    start_time_ms: int
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    #: artifact path inside the run ("metrics/m.json") -> file content
    artifacts: dict[str, bytes] = field(default_factory=dict)
    status: RunStatus = RunStatus.RUNNING
    end_time_ms: int | None = None

    def metric_history(self, key: str) -> list[Metric]:
        return [m for m in self.metrics if m.key == key]

    def final_metrics(self) -> dict[str, float]:
        latest: dict[str, Metric] = {}
        for m in self.metrics:
            if m.key not in latest or m.step >= latest[m.key].step:
                latest[m.key] = m
        return {k: m.value for k, m in latest.items()}


class FakeTracking(TrackingBackend):
    """Records runs in memory. `calls` counts backend calls and `call_order` lists them,
    for batching tests. `models` is its model registry: name -> versions (`ModelVersion`, oldest first)."""

    name = "memory"

    def __init__(self) -> None:
        self.runs: dict[str, FakeRun] = {}
        self.models: dict[str, list[ModelVersion]] = {}
        self.aliases: dict[str, dict[str, str]] = {}
        self.calls: dict[str, int] = {}
        self.call_order: list[str] = []
        self._ids = itertools.count(1)

    @property
    def uri(self) -> str:
        return "memory"

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str], start_time_ms: int) -> str:
        self._count("start_run")
        core_run_id = tags.get(RUN_ID_TAG)
        for run in self.runs.values():
            if core_run_id and run.experiment == experiment and run.tags.get(RUN_ID_TAG) == core_run_id:
                return run.run_id  # as MLflow: the run already tagged with this core run is adopted
        run_id = f"fake-{next(self._ids)}"
        self.runs[run_id] = FakeRun(run_id, experiment, run_name, start_time_ms, tags=dict(tags))
        return run_id

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        self._count("log_batch")
        run = self._active(run_id)
        for key, value in params.items():
            # Same rule as MLflow: a param, once logged, may not change.
            if key in run.params and run.params[key] != value:
                raise TrackingError(f"param '{key}' already logged as {run.params[key]!r}, cannot change to {value!r}")
            run.params[key] = value
        run.metrics.extend(metrics)
        run.tags.update(tags)

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        self._count("log_artifact")
        run = self._active(run_id)
        local_path = Path(local_path)
        name = f"{artifact_path.strip('/')}/{local_path.name}" if artifact_path else local_path.name
        run.artifacts[name] = local_path.read_bytes()

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        self._count("end_run")
        run = self._get(run_id)
        run.status = status
        run.end_time_ms = end_time_ms

    def has_run(self, core_run_id: str) -> bool | None:
        return any(run.tags.get(RUN_ID_TAG) == core_run_id for run in self.runs.values())

    def download_artifact(self, core_run_id: str, artifact_path: str, dst_dir: Path) -> Path:
        """A file, or a folder (every artifact under `artifact_path/`), as MLflow does."""
        prefix = artifact_path.rstrip("/") + "/"
        for run in self.runs.values():
            if run.tags.get(RUN_ID_TAG) != core_run_id:
                continue
            matches = [k for k in run.artifacts if k == artifact_path or k.startswith(prefix)]
            for key in matches:
                dst = Path(dst_dir) / key
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(run.artifacts[key])
            if matches:
                return Path(dst_dir) / artifact_path
        raise TrackingError(f"no recorded run {core_run_id} with artifact {artifact_path}")

    # -- MLflow Models and the registry, as MLflow keeps them -------------------------
    def find_model(self, uri: ModelUri) -> ModelVersion:
        if uri.run_id is not None:
            run = self.runs.get(uri.run_id)
            if run is None:
                raise ModelNotFound(f"{uri.uri}: no MLflow run '{uri.run_id}' in memory")
            prefix = f"{uri.path}/"
            if not any(k.startswith(prefix) for k in run.artifacts):
                top = sorted({k.split("/")[0] for k in run.artifacts})
                raise missing(uri.uri, f"run {uri.run_id} logged nothing at '{uri.path}'", top, "its artifacts")
            return ModelVersion(source=uri.uri, run_id=run.tags.get(RUN_ID_TAG), mlflow_run_id=run.run_id,
                                artifact_path=uri.path)
        name = str(uri.name)
        if name not in self.models:
            raise missing(uri.uri, f"no registered model '{name}' in memory", sorted(self.models), "registered models")
        aliases = self.aliases.get(name, {})
        version = uri.version if uri.version is not None else aliases.get(str(uri.alias))
        for found in self._versions(name):
            if found.version == version:
                return found
        what = f"alias '{uri.alias}'" if uri.alias is not None else f"version {uri.version}"
        raise ModelNotFound(f"{uri.uri}: model '{name}' has no {what} (aliases: "
                            f"{', '.join(f'{a} -> v{v}' for a, v in sorted(aliases.items())) or 'none'}; versions: "
                            f"{', '.join(v.version or '' for v in self._versions(name)) or 'none'})")

    def download_model(self, model: ModelVersion, dst_dir: Path) -> Path:
        run = self._get(str(model.mlflow_run_id))
        prefix = f"{model.artifact_path}/"
        for key, data in run.artifacts.items():
            if key.startswith(prefix):
                dst = Path(dst_dir) / key
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(data)
        return Path(dst_dir) / str(model.artifact_path)

    def register_model(self, run_id: str, *, artifact_path: str, name: str, alias: str | None,
                       tags: Mapping[str, str], core_run_id: str) -> Registered:
        self._count("register_model")
        run = self._get(run_id)
        if not any(k.startswith(f"{artifact_path}/") for k in run.artifacts):
            raise ModelNotLogged(f"the run logged no '{artifact_path}' artifact (no MLflow Model to register)")
        versions = self.models.setdefault(name, [])
        made = [v for v in versions if v.tags.get(RUN_ID_TAG) == core_run_id]
        if made:
            version = str(made[0].version)
        else:
            version = str(len(versions) + 1)
            versions.append(ModelVersion(source=f"runs:/{run_id}/{artifact_path}", name=name, version=version,
                                         run_id=core_run_id, mlflow_run_id=run_id, artifact_path=artifact_path,
                                         tags=dict(tags)))
        if alias:
            self.aliases.setdefault(name, {})[alias] = version
        return Registered(name=name, version=version, alias=alias)

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        names = [name] if name is not None else sorted(self.models)
        return [v for n in names if n in self.models for v in reversed(self._versions(n))]

    def _versions(self, name: str) -> list[ModelVersion]:
        """A name's versions with their aliases as they are now."""
        aliases = self.aliases.get(name, {})
        return [replace(v, aliases=tuple(sorted(a for a, n in aliases.items() if n == v.version)))
                for v in self.models.get(name, [])]

    # -- query helpers for tests -------------------------------------------------
    def only_run(self) -> FakeRun:
        """The single recorded run; fails loudly when there are none or several."""
        if len(self.runs) != 1:
            raise AssertionError(f"expected exactly one run, found {len(self.runs)}")
        return next(iter(self.runs.values()))

    def _get(self, run_id: str) -> FakeRun:
        try:
            return self.runs[run_id]
        except KeyError:
            raise TrackingError(f"no run '{run_id}'") from None

    def _active(self, run_id: str) -> FakeRun:
        run = self._get(run_id)
        if run.status.is_terminal:
            raise TrackingError(f"run '{run_id}' already ended as {run.status.value}")
        return run

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.call_order.append(name)
