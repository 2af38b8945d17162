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
from pathlib import Path

from core._tracking import sqlite_store, store_template
from core._tracking.backend import TrackingBackend
from core._tracking.target import (
    DEFAULT_EXPERIMENT,
    MEMORY,
    OFFLINE_PREFIX,
    TrackingTarget,
    default_target,
    public_uri,
    resolve_target,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "MEMORY",
    "OFFLINE_PREFIX",
    "TrackingTarget",
    "default_target",
    "open_backend",
    "prepare_experiment",
    "public_uri",
    "resolve_target",
]


def open_backend(target: TrackingTarget) -> TrackingBackend:
    """Create the backend for `target`; MLflow is imported only here."""
    if target.is_memory:
        from core._tracking.fake import FakeTracking

        return FakeTracking()
    from core._tracking.mlflow_backend import MlflowTracking

    db, ready = target.sqlite_path, _ready_marker(target)
    reason = sqlite_store.problem(db) if db is not None else None
    if reason is not None:
        return sqlite_store.UnopenableStore(target.uri, reason)
    if db is not None and ready is not None and sqlite_store.is_ready(db, ready):
        # This very database was made and checked before: opening it now only reads, so parallel
        # workers need not queue behind one another for the lock.
        return MlflowTracking(target.uri, artifact_location=target.artifact_location)
    with _first_use_lock(target):
        # A new store starts as a copy of an empty, migrated one when there is one for this MLflow.
        new = db is not None and not db.exists()
        seeded = new and store_template.seed(db, target.artifact_location)
        backend = MlflowTracking(target.uri, artifact_location=target.artifact_location)
        if new:
            try:
                backend.open_store()  # made (migrated) or, a copy, its schema checked: here, under the lock
            except Exception:
                if seeded:
                    # MLflow refused the copy: no later store starts from that template, and this one is
                    # made anew by the next process to open it (this one's MLflow has it cached).
                    store_template.forget()
                    db.unlink(missing_ok=True)
                raise
        if db is not None and ready is not None:
            sqlite_store.mark_ready(db, ready)
        if new and not seeded:
            store_template.keep(db)
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
    if getattr(backend, "prepares_experiments", False):
        experiment_id(experiment)  # the tracking service takes the lock itself (taking it here would deadlock)
        return
    if isinstance(backend, sqlite_store.UnopenableStore):
        experiment_id(experiment)  # says why at once, taking no lock in a folder that may not be one
    with _first_use_lock(target):
        experiment_id(experiment)


def _ready_marker(target: TrackingTarget) -> Path | None:
    """Written next to a local SQLite store by the process that made it, recording its schema
    revision, and trusted only for that database (`core._tracking.sqlite_store`); None for servers."""
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
