"""The embedded SQLite store, looked at with the standard library's `sqlite3` before MLflow opens it.

MLflow makes a new SQLite store's schema (an alembic migration) when a client first opens it, and
processes that do so at once break it for good, so the first use happens under a file lock
(`core._tracking.open_backend`); the process that made the store then writes a `.ready` marker
beside it, and later processes open the store without queueing for the lock.

A store that cannot be opened (the database is a folder, not a database, unreadable, or cannot be
created where it belongs) is found here in a millisecond and opened as `UnopenableStore`, whose
every call fails at once naming the file: MLflow would retry for 100 seconds before saying
"unable to open database file", and a run goes on journaling as when a server is down.

A marker is only trusted for the database it describes: it records the schema revision the store
was made at, and it counts only while the database exists at that revision with MLflow's default
experiment in it (the last thing MLflow writes when it makes a store). A database deleted or
replaced under its marker, or one another process is still making, is opened under the lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from core._errors import TrackingError
from core._files import atomic_write_text
from core._tracking.backend import Metric, TrackingBackend
from core._tracking.target import public_uri
from core.contracts import RunStatus


def read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection that never creates the file and waits at most a second for a writer."""
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)


def made_revision(db: Path) -> str | None:
    """The alembic revision of a store MLflow has finished making; None if it is missing, not a
    database, or not made yet (no revision, or no default experiment)."""
    if not db.is_file():
        return None
    try:
        with contextlib.closing(read_only(db)) as conn:
            revisions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            made = conn.execute("SELECT 1 FROM experiments WHERE experiment_id = 0").fetchone()
    except sqlite3.Error:  # no such table, not a database, locked past the second: not known to be made
        return None
    return str(revisions[0][0]) if len(revisions) == 1 and made else None


def is_ready(db: Path, marker: Path) -> bool:
    """Whether `marker` vouches for `db` as it is now (see the module's docstring)."""
    try:
        recorded = marker.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return bool(recorded) and made_revision(db) == recorded


def mark_ready(db: Path, marker: Path) -> None:
    """Record `db`'s revision in `marker`, once MLflow has made it (the caller holds the first-use lock)."""
    revision = made_revision(db)
    if revision is not None:
        atomic_write_text(marker, revision + "\n")


def problem(db: Path) -> str | None:
    """Why MLflow could not open the store `db` (the message names the file), or None. Creates
    the store's folder if it is missing, as MLflow would."""
    prefix = f"cannot open the MLflow store {db}"
    if db.is_dir():
        return f"{prefix}: it is a folder, not a SQLite database file"
    if db.exists():
        if not db.is_file():
            return f"{prefix}: it is not a regular file"
        if not os.access(db, os.R_OK | os.W_OK):
            return f"{prefix}: permission denied (it must be readable and writable)"
        try:
            with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=rw", uri=True,
                                                    timeout=1.0)) as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            return None if "locked" in str(exc) else f"{prefix}: {exc}"  # locked: busy, not broken
        except sqlite3.Error as exc:  # "file is not a database"
            return f"{prefix}: {exc}"
        return None
    folder = db.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"{prefix}: its folder {folder} cannot be made ({exc.strerror or exc})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{prefix}: it cannot be created in {folder} (permission denied)"
    return None


class UnopenableStore(TrackingBackend):
    """A local store `problem` found broken: every call fails at once with the reason, which names
    the file. A run keeps journaling every call (as with a server that is down) and says how many
    are pending; `core sync` sends them once the store is mended."""

    name = "mlflow"

    def __init__(self, tracking_uri: str, reason: str) -> None:
        self._uri = tracking_uri
        self.reason = reason

    @property
    def uri(self) -> str:
        return public_uri(self._uri)

    def _fail(self) -> NoReturn:
        raise TrackingError(self.reason)

    def experiment_id(self, name: str) -> str:
        self._fail()

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str], start_time_ms: int) -> str:
        self._fail()

    def log_batch(self, run_id: str, *, metrics: Sequence[Metric] = (), params: Mapping[str, str] = {},
                  tags: Mapping[str, str] = {}) -> None:
        self._fail()

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        self._fail()

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        self._fail()

    def download_artifact(self, core_run_id: str, artifact_path: str, dst_dir: Path) -> Path:
        self._fail()
