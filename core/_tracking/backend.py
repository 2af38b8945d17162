"""What every tracking backend implements (MLflow, the recording fake): `TrackingBackend`.

Backends sit below the plugin-facing `Tracker` (`core.contracts`): they are low level and
stateless about "the current run", and every call names its run. Buffering, the on-disk
journal and naming checks live above them (`recorder`, `handle`). Like Lightning's `Logger`,
a few abstract members; the rest are concrete with documented defaults.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core._errors import TrackingError
from core._safefiles import regular_files
from core._tracking.model_uri import ModelUri, ModelVersion
from core.contracts import RunStatus

#: the tag every tracked run carries: the core run id it records. A backend that can search
#: adopts the run already tagged with it instead of creating a second one (`start_run`).
RUN_ID_TAG = "mlcore.run_id"


def folder_files(local_dir: Path, within: Path, artifact_path: str | None) -> list[tuple[Path, str | None]]:
    """(file, artifact path for it) of every regular file under `local_dir` that stays inside `within`."""
    out = []
    for path, _ in regular_files(local_dir, within):
        rel_parent = path.parent.relative_to(local_dir).as_posix()
        parts = [p for p in (artifact_path, rel_parent if rel_parent != "." else None) if p]
        out.append((path, "/".join(parts) or None))
    return out


class ModelNotLogged(TrackingError):
    """A run asked to register its model logged none (no artifact at the model's path): permanent, so a
    resend does not retry it; the run's record says so."""


@dataclass(frozen=True, slots=True)
class Registered:
    """A model version registered for a run (`register_model`): `alias` moved to it, if asked."""

    name: str
    version: str
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric point as a backend receives it. `timestamp_ms` is when it was logged."""

    key: str
    value: float
    step: int
    timestamp_ms: int


class TrackingBackend(ABC):
    """What every tracking backend implements (MLflow, the recording fake).

    Backends are low level and stateless about "the current run": every call
    names its run explicitly. Buffering, the on-disk journal and the
    plugin-facing API live above them, in `core._tracking`.
    """

    #: short backend name recorded in run summaries ("mlflow", "memory")
    name: str = "abstract"
    #: calls are made by another process (the tracking service), so the run's recorder sends them from
    #: a thread of its own while the plugin goes on; False: sent in the plugin's thread, as a backend in
    #: this process would only compete with the plugin for the interpreter
    sends_in_background: bool = False

    @property
    @abstractmethod
    def uri(self) -> str:
        """Where this backend stores runs, without credentials."""

    @abstractmethod
    def start_run(
        self,
        *,
        experiment: str,
        run_name: str,
        tags: Mapping[str, str],
        start_time_ms: int,
    ) -> str:
        """Create a run and return the backend's id for it.

        When `tags` hold `RUN_ID_TAG` and a run with that tag exists already (a `core sync` killed
        after creating it, a create that timed out but reached the server), return that run
        instead: one core run is one tracked run, however often its start is sent."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        """Record metrics, params and tags in one call, in the order given."""

    @abstractmethod
    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        """Copy one file into the run's artifacts, under `artifact_path`."""

    @abstractmethod
    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        """Mark the run terminated with `status`."""

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
        """Copy a folder's regular files, keeping their relative layout, one at a time; a link is
        followed only when it stays inside the folder, and FIFOs, devices and sockets are left out."""
        for path, rel_path in folder_files(Path(local_dir), Path(local_dir), artifact_path):
            self.log_artifact(run_id, path, rel_path)

    def has_run(self, core_run_id: str) -> bool | None:
        """Whether a run tagged `mlcore.run_id=core_run_id` is recorded here; None: cannot tell.

        Lets core refuse a spec naming an earlier run that exists nowhere before the run starts."""
        return None

    def download_artifact(self, core_run_id: str, artifact_path: str, dst_dir: Path) -> Path:
        """Copy an artifact of the run tagged `mlcore.run_id=core_run_id` into `dst_dir`.

        Lets a score pipeline find a model whose run folder is gone. Default: unsupported.
        """
        raise TrackingError(f"the {self.name} backend cannot fetch artifacts of earlier runs")

    # -- MLflow Models and the Model Registry ------------------------------------------
    def find_model(self, uri: ModelUri) -> ModelVersion:
        """The model `uri` names, without fetching it; `core.ModelNotFound` naming what exists
        (registered names, a name's aliases and versions, a run's artifacts). Default: no registry."""
        raise TrackingError(f"the {self.name} backend has no MLflow Models")

    def download_model(self, model: ModelVersion, dst_dir: Path) -> Path:
        """Copy the model's folder (as `find_model` found it) into `dst_dir`; returns the folder."""
        raise TrackingError(f"the {self.name} backend has no MLflow Models")

    def register_model(self, run_id: str, *, artifact_path: str, name: str, alias: str | None,
                       tags: Mapping[str, str], core_run_id: str) -> Registered:
        """Register the model logged at `artifact_path` in run `run_id` as a new version of `name`
        (created if new) with `tags`, and move `alias` to it. Idempotent: a version of `name` tagged
        `mlcore.run_id=core_run_id` is that version (a resend after a crash makes no second one).
        `ModelNotLogged` when the run has nothing at `artifact_path`."""
        raise TrackingError(f"the {self.name} backend has no model registry")

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Registered versions (of `name`, or of every model), newest first within a name."""
        raise TrackingError(f"the {self.name} backend has no model registry")

    def close(self) -> None:
        """Release connections. Default: nothing to release."""
