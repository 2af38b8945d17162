"""The embedded SQLite store, looked at with the standard library's `sqlite3` before MLflow opens it.

MLflow makes a new SQLite store's schema (an alembic migration) when a client first opens it, and
processes that do so at once break it for good, so the first use happens under a file lock
(`core._tracking.open_backend`); the process that made the store then writes a `.ready` marker
beside it, and later processes open the store without queueing for the lock.

A marker is only trusted for the database it describes: it records the schema revision the store
was made at, and it counts only while the database exists at that revision with MLflow's default
experiment in it (the last thing MLflow writes when it makes a store). A database deleted or
replaced under its marker, or one another process is still making, is opened under the lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from core._files import atomic_write_text


def _read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection that never creates the file and waits at most a second for a writer."""
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)


def made_revision(db: Path) -> str | None:
    """The alembic revision of a store MLflow has finished making; None if it is missing, not a
    database, or not made yet (no revision, or no default experiment)."""
    if not db.is_file():
        return None
    try:
        with contextlib.closing(_read_only(db)) as conn:
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
