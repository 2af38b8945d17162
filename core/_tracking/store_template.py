"""A new embedded store without the migration wait: a copy of an empty, already-migrated database.

MLflow makes a new SQLite store by running every alembic migration since its first schema (about
5 s on a small machine), once per artifact root. The first store made with an installed MLflow is
kept, still empty, in the user's cache (`~/.cache/mlcore/stores/`, `$XDG_CACHE_HOME` honoured), keyed
by MLflow's schema head (`schema-<revision>.db`), and used only at exactly that revision; a later new store is that file copied, and only
MLflow's own check of the schema remains. The copy is made and used under the store's first-use lock
(`core._tracking.open_backend`); a template at another revision or failing SQLite's check is dropped
(the next new store becomes the template), and one MLflow still refuses is dropped with the copy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from core._files import user_cache_dir
from core._tracking.sqlite_store import made_revision, read_only

#: what MLflow writes in every store it makes: the default experiment, whose artifact location is the
#: one thing in an empty store that depends on where it was made
_DEFAULT_EXPERIMENT_ID = 0


def cache_dir() -> Path:
    return user_cache_dir() / "stores"


def schema_head() -> str | None:
    """The schema revision the installed MLflow makes and expects (what its own check compares), or
    None when it cannot be told (then no template is used)."""
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        return str(_get_latest_schema_revision())
    except Exception:  # noqa: BLE001 - a private helper of MLflow's: without it, stores are made as before
        return None


def template_path(head: str) -> Path:
    return cache_dir() / f"schema-{head}.db"


def seed(db: Path, artifact_location: str | None) -> bool:
    """Copy the template for MLflow's schema head into the (not yet existing) `db`; True when it did.
    Only a template at exactly that revision is used. The default experiment's artifact location is
    set to this store's, as MLflow would have made it."""
    head = schema_head()
    if head is None or db.exists():
        return False
    template = template_path(head)
    if made_revision(template) != head or not _intact(template):
        if template.exists():
            forget()  # damaged: the next store MLflow makes becomes the template again
        return False
    partial = db.with_name(db.name + ".seeding")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(read_only(template)) as src, contextlib.closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
            if artifact_location:
                dst.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                            (f"{artifact_location.rstrip('/')}/{_DEFAULT_EXPERIMENT_ID}", _DEFAULT_EXPERIMENT_ID))
                dst.commit()
        os.replace(partial, db)
        return True
    except (OSError, sqlite3.Error):  # no template after all: MLflow makes the store as it always did
        with contextlib.suppress(OSError):
            partial.unlink()
        return False


def _intact(db: Path) -> bool:
    try:
        with contextlib.closing(read_only(db)) as conn:
            return conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    except sqlite3.Error:
        return False


def keep(db: Path) -> None:
    """Keep `db`, just made by MLflow and still empty, as the template for its schema (best effort)."""
    head = schema_head()
    if head is None or made_revision(db) != head:
        return
    target = template_path(head)
    if target.exists():
        return
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(read_only(db)) as src, contextlib.closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
        os.replace(partial, target)  # whole or not at all: other processes may be reading the folder
    except (OSError, sqlite3.Error):
        with contextlib.suppress(OSError):
            partial.unlink()


def forget() -> None:
    """Drop the template for this schema (a copy MLflow refused: a damaged file)."""
    head = schema_head()
    if head is not None:
        with contextlib.suppress(OSError):
            template_path(head).unlink()
