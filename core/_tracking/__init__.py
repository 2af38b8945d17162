"""Tracking: backends behind the `TrackingBackend` facade, and how a URI picks one.

- `memory`: the recording fake (tests).
- unset: the embedded default, an MLflow SQLite store and its artifact folder
  inside the artifact root, so a run needs no server.
- `sqlite:///...`, `http(s)://...`, `databricks...`: MLflow.
- `offline:` or `offline:<uri>`: nothing is sent during the run; the journal
  keeps every call and `core sync` sends them to `<uri>` (default: the
  embedded store) later, like W&B's offline mode plus `wandb sync`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from core._errors import BadInput
from core._tracking.backend import TrackingBackend

MEMORY = "memory"
OFFLINE_PREFIX = "offline:"
DEFAULT_EXPERIMENT = "mlcore"
_MLFLOW_SCHEMES = ("sqlite:///", "http://", "https://", "databricks", "postgresql", "mysql", "mssql")


@dataclass(frozen=True, slots=True)
class TrackingTarget:
    """A resolved tracking destination: absolute URI plus, for local stores, where artifacts go."""

    uri: str
    artifact_location: str | None = None
    #: journal only; `core sync` sends to `uri` later
    offline: bool = False

    @property
    def is_memory(self) -> bool:
        return self.uri == MEMORY

    @property
    def lock_path(self) -> Path | None:
        """A lock file that serialises first use of a local SQLite store, else None."""
        if self.uri.startswith("sqlite:///"):
            return Path(self.uri[len("sqlite:///") :] + ".lock")
        return None


def public_uri(uri: str) -> str:
    """The URI without user:password, for summaries and logs."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return uri


def default_target(artifact_root: Path) -> TrackingTarget:
    root = Path(artifact_root).resolve() / "mlflow"
    return TrackingTarget(
        uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_location=(root / "artifacts").as_uri(),
    )


def resolve_target(uri: str | None, *, artifact_root: Path) -> TrackingTarget:
    """Turn a user-supplied URI (or none) into an absolute `TrackingTarget`.

    Relative SQLite paths are made absolute so worker processes, started
    elsewhere, write to the same store (mlflow/mlflow#7206).
    """
    if uri is not None and uri.startswith(OFFLINE_PREFIX):
        inner = resolve_target(uri[len(OFFLINE_PREFIX) :] or None, artifact_root=artifact_root)
        if inner.is_memory:
            raise BadInput("tracking URI 'offline:memory' makes no sense: the fake keeps nothing to sync")
        return replace(inner, offline=True)
    if uri is None or uri == "":
        return default_target(artifact_root)
    if uri == MEMORY:
        return TrackingTarget(MEMORY)
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :]).expanduser().resolve()
        return TrackingTarget(f"sqlite:///{db}", (db.parent / "artifacts").as_uri())
    if uri.startswith(_MLFLOW_SCHEMES):
        return TrackingTarget(uri)
    raise BadInput(
        f"tracking URI '{uri}' is not supported (allowed: memory, sqlite:///PATH.db, "
        "http(s)://HOST:PORT, offline:[URI], or unset for the embedded store)"
    )


def open_backend(target: TrackingTarget) -> TrackingBackend:
    """Create the backend for `target`; MLflow is imported only here."""
    if target.is_memory:
        from core._tracking.fake import FakeTracking

        return FakeTracking()
    from core._tracking.mlflow_backend import MlflowTracking

    ready = _ready_marker(target)
    if ready is not None and ready.exists():
        # The schema was made and checked before: opening it now only reads, so parallel
        # workers need not queue behind one another for the lock.
        return MlflowTracking(target.uri, artifact_location=target.artifact_location)
    with _first_use_lock(target):
        # MlflowClient opens the store (and migrates a new SQLite schema) as it is built.
        backend = MlflowTracking(target.uri, artifact_location=target.artifact_location)
        if ready is not None:
            ready.touch()
        return backend


def prepare_experiment(backend: TrackingBackend, target: TrackingTarget, experiment: str) -> None:
    """Create the store's schema and the experiment once, under a file lock.

    Concurrent first use of a new SQLite file corrupts MLflow's schema
    migration (7 of 8 simultaneous processes crashed), so the first process
    to take the lock migrates and creates; the others then find both.
    """
    experiment_id = getattr(backend, "experiment_id", None)
    if experiment_id is None:
        return
    with _first_use_lock(target):
        experiment_id(experiment)


def _ready_marker(target: TrackingTarget) -> Path | None:
    """Written next to a local SQLite store once its schema exists; None for servers."""
    return target.lock_path.with_suffix(".ready") if target.lock_path is not None else None


@contextlib.contextmanager
def _first_use_lock(target: TrackingTarget) -> Iterator[None]:
    """A cross-process lock for a local SQLite store; nothing for servers (they migrate once)."""
    if target.lock_path is None:
        yield
        return
    from filelock import FileLock

    target.lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.lock_path), timeout=120):
        yield
