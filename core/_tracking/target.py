"""Where tracking goes: a URI (or none) resolved into an absolute `TrackingTarget`.

Pure string and path work, no backend: `core._tracking` opens backends for targets, and
backends import from here, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from core._errors import BadInput
from core._redact import scrub

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
    def sqlite_path(self) -> Path | None:
        """The database file of a local SQLite store, else None."""
        if self.uri.startswith("sqlite:///"):
            return Path(self.uri[len("sqlite:///") :])
        return None

    @property
    def lock_path(self) -> Path | None:
        """A lock file that serialises first use of a local SQLite store, else None."""
        db = self.sqlite_path
        return db.with_name(db.name + ".lock") if db is not None else None


def public_uri(uri: str) -> str:
    """The URI without user:password (also inside `offline:http://user:pw@host`), for summaries and logs."""
    return scrub(uri)


def default_target(artifact_root: Path) -> TrackingTarget:
    root = Path(artifact_root).resolve() / "mlflow"
    return TrackingTarget(
        uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_location=(root / "artifacts").as_uri(),
    )


def recorded_target(uri: str, artifact_location: str | None, *, artifact_root: Path) -> TrackingTarget:
    """Where a run recorded that it tracks to (its `tracking/state.json`), for `core sync` in the artifact
    root it lives in now. A run that tracked to the embedded store of the root it was in tracks to the
    embedded store of this root: a root copied or moved elsewhere syncs into its own store, never into
    the original's (state.json holds absolute URIs)."""
    target = resolve_target(uri, artifact_root=artifact_root)
    if target.uri.startswith("sqlite:///"):
        db = Path(target.uri[len("sqlite:///") :])
        if db.name == "mlflow.db" and db.parent.name == "mlflow":
            was = default_target(db.parent.parent)
            if was.uri == target.uri and artifact_location in (None, was.artifact_location):
                return default_target(artifact_root)
    return TrackingTarget(target.uri, artifact_location or target.artifact_location)


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
