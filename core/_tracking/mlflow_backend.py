"""MLflow backend: `MlflowClient` with explicit run ids, no fluent global state.

Imported only when a run tracks to MLflow, so `import core` stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from core._errors import ModelNotFound, TrackingError
from core._tracking.backend import RUN_ID_TAG, Metric, ModelNotLogged, Registered, TrackingBackend
from core._tracking.metric_rows import MetricRows, metric_rows
from core._tracking.model_uri import ModelUri, ModelVersion, missing
from core._tracking.patience import GuardedClient, for_server
from core._tracking.target import public_uri
from core.contracts import RunStatus

if TYPE_CHECKING:  # MLflow is imported only when a run tracks to it
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion
    from mlflow.tracking import MlflowClient

# MLflow's own defaults retry a failing HTTP call for about four minutes. A run
# must not hang that long on a server that is down (DESIGN.md, Tracking), so
# these bound each call to seconds; users can still override them. The number of
# calls that wait is bounded too (`core._tracking.patience`).
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}


#: tags of the experiments core creates. MLflow 3's UI opens an experiment without a kind on its
#: GenAI "Overview/Traces" page; these hold training runs, so they open on the runs view.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


class MlflowTracking(TrackingBackend):
    """Tracks to any MLflow store: the embedded SQLite default or a server."""

    name = "mlflow"

    def __init__(self, tracking_uri: str, *, artifact_location: str | None = None) -> None:
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        # MLflow writes "View run <name> at: <the tracking URI, credentials and all>" to stdout when a
        # run ends on a server: a password printed, and `--json` output that is no longer JSON.
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient

        self._uri = tracking_uri
        self._artifact_location = artifact_location
        self._client = MlflowClient(tracking_uri=tracking_uri)
        if not tracking_uri.startswith("sqlite:"):
            # Each call is bounded, not their number: a server that does not answer is left alone
            # after one call's wait, so it costs a run (or a sync of many runs) that much in all.
            self._client = cast("MlflowClient", GuardedClient(self._client, for_server(tracking_uri)))
        self._experiments: dict[str, str] = {}
        self._metric_rows: MetricRows | None = None
        self._looked_for_metric_rows = not tracking_uri.startswith("sqlite:")

    def open_store(self) -> None:
        """Open the store now (MLflow's client does so on first use): a new SQLite store is made, an
        existing one's schema checked, here, under the caller's first-use lock."""
        self._client.get_experiment("0")

    @property
    def uri(self) -> str:
        return public_uri(self._uri)

    @property
    def client(self) -> MlflowClient:
        return self._client

    def experiment_id(self, name: str) -> str:
        """Get or create the experiment. Callers serialise first use (see `core._tracking.store`)."""
        if name in self._experiments:
            return self._experiments[name]
        exp = self._client.get_experiment_by_name(name)
        if exp is None:
            location = f"{self._artifact_location.rstrip('/')}/{_safe_dir(name)}" if self._artifact_location else None
            try:
                exp_id = self._client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
            except Exception:
                # Another process created it between our lookup and create.
                exp = self._client.get_experiment_by_name(name)
                if exp is None:
                    raise
                exp_id = exp.experiment_id
        elif exp.lifecycle_stage == "deleted":
            raise TrackingError(
                f"MLflow experiment '{name}' is deleted: restore it (mlflow experiments restore) or use another name"
            )
        else:
            exp_id = exp.experiment_id
        self._experiments[name] = exp_id
        return exp_id

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str], start_time_ms: int) -> str:
        """Adopt the run already tagged with this core run id, else create it (see `TrackingBackend`).

        A create that timed out may still have reached the server, and MLflow's HTTP client retries
        it, so there can be several: the one that has data (else the oldest) is kept, and the empty
        RUNNING ones, never used, are deleted here and again when the run ends.
        """
        exp_id = self.experiment_id(experiment)
        core_run_id = tags.get(RUN_ID_TAG)
        if core_run_id:
            found = self._tagged(exp_id, core_run_id)
            if found:
                kept = min(found, key=lambda r: (-_data_size(r), r.info.start_time or 0, r.info.run_id))
                self._delete_orphans(found, kept.info.run_id)
                return kept.info.run_id
        run = self._client.create_run(exp_id, start_time=start_time_ms, tags=dict(tags), run_name=run_name)
        if core_run_id:
            self._delete_orphans(self._tagged(exp_id, core_run_id), run.info.run_id)
        return run.info.run_id

    def _tagged(self, exp_id: str, core_run_id: str) -> list[Run]:
        return list(self._client.search_runs([exp_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{core_run_id}'",
                                             max_results=100))

    def _delete_orphans(self, runs: Sequence[Run], keep: str) -> None:
        for run in runs:
            if run.info.run_id != keep and run.info.status == "RUNNING" and _data_size(run) == 0:
                try:
                    self._client.delete_run(run.info.run_id)
                except Exception:  # noqa: BLE001 - an orphan left behind is cleaned at the next start or end
                    pass

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        from mlflow.entities import Metric as MlflowMetric
        from mlflow.entities import Param, RunTag

        metrics = list(metrics)  # read twice when the bulk path hands the batch back to log_batch
        rows = self._rows() if metrics and not params and not tags else None
        if rows is not None and rows.log(run_id, metrics):
            return
        self._client.log_batch(
            run_id,
            metrics=[MlflowMetric(m.key, m.value, m.timestamp_ms, m.step) for m in metrics],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
            synchronous=True,
        )

    def _rows(self) -> MetricRows | None:
        """The embedded store's bulk metric writer (`core._tracking.metric_rows`), looked up on first use,
        when MLflow has opened the store."""
        if not self._looked_for_metric_rows:
            tracking_client = getattr(self._client, "_tracking_client", None)
            # may raise (MLflow opens the store here): the next call looks again
            self._metric_rows = metric_rows(getattr(tracking_client, "store", None))
            self._looked_for_metric_rows = True
        return self._metric_rows

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        self._client.log_artifact(run_id, str(local_path), artifact_path)

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        self._client.set_terminated(run_id, status=status.mlflow_name, end_time=end_time_ms)
        try:  # a create retried behind a slow proxy may have landed after the start: no orphan stays
            run = self._client.get_run(run_id)
            core_run_id = run.data.tags.get(RUN_ID_TAG)
            if core_run_id:
                self._delete_orphans(self._tagged(run.info.experiment_id, core_run_id), run_id)
        except Exception:  # noqa: BLE001 - the run is ended; cleaning up is best-effort
            pass

    def _find_tagged(self, core_run_id: str) -> list[Run]:
        """The run tagged with a core run id, in any experiment (at most one is asked for)."""
        experiments = [e.experiment_id for e in self._client.search_experiments()]
        return list(self._client.search_runs(
            experiments, filter_string=f"tags.`{RUN_ID_TAG}` = '{core_run_id}'", max_results=1
        )) if experiments else []

    def has_run(self, core_run_id: str) -> bool | None:
        return bool(self._find_tagged(core_run_id))

    def download_artifact(self, core_run_id: str, artifact_path: str, dst_dir: Path) -> Path:
        runs = self._find_tagged(core_run_id)
        if not runs:
            raise TrackingError(f"no MLflow run is tagged {RUN_ID_TAG}={core_run_id} in {self.uri}")
        dst_dir.mkdir(parents=True, exist_ok=True)
        return Path(self._client.download_artifacts(runs[0].info.run_id, artifact_path, str(dst_dir)))


    # -- MLflow Models and the Model Registry ------------------------------------------
    def find_model(self, uri: ModelUri) -> ModelVersion:
        if uri.run_id is not None:
            return self._logged_model(uri)
        name = str(uri.name)
        try:
            model = self._client.get_registered_model(name)
        except Exception as exc:
            if not _not_found(exc):
                raise
            names = sorted(m.name for m in self._client.search_registered_models(max_results=100))
            raise missing(uri.uri, f"no registered model '{name}' in {self.uri}", names, "registered models") from None
        aliases = dict(getattr(model, "aliases", None) or {})
        version = uri.version if uri.version is not None else aliases.get(str(uri.alias))
        found = None
        if version is not None:
            try:
                found = self._client.get_model_version(name, str(version))
            except Exception as exc:
                if not _not_found(exc):
                    raise
        if found is None:
            versions = sorted((int(v.version) for v in self._client.search_model_versions(f"name='{name}'")),
                              reverse=True)
            known = "; ".join([f"aliases: {', '.join(f'{a} -> v{v}' for a, v in sorted(aliases.items())) or 'none'}",
                               f"versions: {', '.join(map(str, versions)) or 'none'}"])
            what = f"alias '{uri.alias}'" if uri.alias is not None else f"version {uri.version}"
            raise ModelNotFound(f"{uri.uri}: model '{name}' has no {what} ({known})")
        return self._version(found, with_run=True)

    def _logged_model(self, uri: ModelUri) -> ModelVersion:
        run_id, path = str(uri.run_id), str(uri.path)
        try:
            run = self._client.get_run(run_id)
        except Exception as exc:
            if not _not_found(exc):
                raise
            raise ModelNotFound(f"{uri.uri}: no MLflow run '{run_id}' in {self.uri}") from None
        if not self._client.list_artifacts(run_id, path):
            top = sorted(a.path for a in self._client.list_artifacts(run_id))
            raise missing(uri.uri, f"run {run_id} logged nothing at '{path}'", top, "its artifacts")
        return ModelVersion(source=uri.uri, run_id=run.data.tags.get(RUN_ID_TAG), mlflow_run_id=run_id,
                            artifact_path=path)

    def _version(self, mv: MlflowModelVersion, *, with_run: bool = False) -> ModelVersion:
        tags = dict(mv.tags or {})
        source = str(mv.source or "")
        artifact_path = source.split("/", 2)[2] if source.startswith("runs:/") and source.count("/") >= 2 else None
        core_run = tags.get(RUN_ID_TAG)
        if core_run is None and with_run and mv.run_id:
            try:
                core_run = self._client.get_run(mv.run_id).data.tags.get(RUN_ID_TAG)
            except Exception:  # noqa: BLE001 - the source run may be deleted: the version still resolves
                core_run = None
        return ModelVersion(source=source, name=mv.name, version=str(mv.version),
                            aliases=tuple(sorted(getattr(mv, "aliases", None) or ())), run_id=core_run,
                            mlflow_run_id=mv.run_id or None, artifact_path=artifact_path, tags=tags,
                            created_ms=mv.creation_timestamp)

    def download_model(self, model: ModelVersion, dst_dir: Path) -> Path:
        dst_dir.mkdir(parents=True, exist_ok=True)
        if model.mlflow_run_id and model.artifact_path:
            return Path(self._client.download_artifacts(model.mlflow_run_id, model.artifact_path, str(dst_dir)))
        # A version registered from elsewhere (an MLflow 3 logged model, a path): its download URI.
        from mlflow.artifacts import download_artifacts

        location = self._client.get_model_version_download_uri(str(model.name), str(model.version))
        return Path(download_artifacts(artifact_uri=location, dst_path=str(dst_dir), tracking_uri=self._uri))

    def register_model(self, run_id: str, *, artifact_path: str, name: str, alias: str | None,
                       tags: Mapping[str, str], core_run_id: str) -> Registered:
        if not self._client.list_artifacts(run_id, artifact_path):
            raise ModelNotLogged(f"the run logged no '{artifact_path}' artifact (no MLflow Model to register)")
        try:
            self._client.get_registered_model(name)
        except Exception as exc:
            if not _not_found(exc):
                raise
            try:
                self._client.create_registered_model(name)
            except Exception:  # noqa: BLE001 - another run created it meanwhile; else the lookup raises
                self._client.get_registered_model(name)
        # A resend (the process died after the server made the version) finds the version it made.
        made = self._client.search_model_versions(f"name='{name}' and tags.`{RUN_ID_TAG}` = '{core_run_id}'")
        if made:
            version = str(min(int(v.version) for v in made))
        else:
            # `runs:/` source, as `mlflow.register_model` makes for a run's artifact folder: the version
            # keeps its link to the run (`run_id`), and the artifacts stay where the run logged them.
            created = self._client.create_model_version(name, f"runs:/{run_id}/{artifact_path}", run_id=run_id,
                                                        tags=dict(tags), await_creation_for=30)
            version = str(created.version)
        if alias:
            self._client.set_registered_model_alias(name, alias, version)
        return Registered(name=name, version=version, alias=alias)

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        found = self._client.search_model_versions(f"name='{name}'" if name else None)
        # A searched version carries no aliases (the SQL store leaves them out): the models say them.
        models = [self._client.get_registered_model(name)] if name and found else \
            self._client.search_registered_models(max_results=1000) if found else []
        aliases: dict[tuple[str, str], list[str]] = {}
        for model in models:
            for alias, version in (getattr(model, "aliases", None) or {}).items():
                aliases.setdefault((model.name, str(version)), []).append(alias)
        versions = [replace(self._version(v), aliases=tuple(sorted(aliases.get((v.name, str(v.version)), ()))))
                    for v in found]
        return sorted(versions, key=lambda v: (str(v.name), -int(v.version or 0)))


def _not_found(exc: BaseException) -> bool:
    """MLflow's 'no such run / model / version' (RESOURCE_DOES_NOT_EXIST), from a store or a server."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def _data_size(run: Run) -> int:
    """How much a run holds besides its tags: an empty RUNNING one is an orphaned create."""
    return len(run.data.metrics) + len(run.data.params)


def _safe_dir(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "experiment"
