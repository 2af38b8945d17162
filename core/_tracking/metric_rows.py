"""Many metric points into the embedded SQLite store with one INSERT, not one ORM object each.

MLflow's `SqlAlchemyStore.log_batch` builds a SQLAlchemy ORM object for every metric point and
flushes them through the session's unit of work: about 80 µs a point on a 2-core machine, so a
run that logs 10,000 step metrics spends 0.9 s in it. The rows are simple, so this writes the same
rows with one executemany INSERT inside MLflow's own session, after MLflow's own checks (each
point through `_validate_metric`, the run exists and is active), and updates `latest_metrics` with
MLflow's own `_update_latest_metrics_if_necessary`. The store ends as `log_batch` would leave it:
tests/test_metric_rows.py writes the same batches both ways and compares the tables row by row.

It leans on MLflow internals, so `metric_rows` hands out a writer only when every one it uses is
there and the `metrics` table has exactly the columns it fills; otherwise (another MLflow, a
server, another database) metrics go through `log_batch` as before. A batch that repeats a point
the store already holds (a resend after a lost acknowledgement) breaks the table's primary key:
the INSERT is rolled back and the batch goes through `log_batch`, whose own recovery skips the
stored points. Either way each point is stored exactly once.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from core._tracking.backend import Metric

#: the columns of MLflow's `metrics` table that this writes; any other layout goes through `log_batch`
METRIC_COLUMNS = frozenset({"run_uuid", "key", "value", "timestamp", "step", "is_nan"})


class MetricRows:
    """Writes metric-only batches to one SQLAlchemy store of MLflow's (see the module docstring)."""

    def __init__(self, store: Any) -> None:
        import sqlalchemy
        from mlflow.store.tracking.dbmodels.models import SqlMetric
        from mlflow.utils.validation import _validate_metric, _validate_run_id

        self._store = store
        self._insert = sqlalchemy.insert(SqlMetric.__table__)
        self._integrity_error = sqlalchemy.exc.IntegrityError
        self._sql_metric = SqlMetric
        self._validate = _validate_metric
        self._validate_run_id = _validate_run_id
        try:  # what MLflow's client does to each value before its store sees it (True -> 1.0)
            from mlflow.tracking.metric_value_conversion_utils import (
                convert_metric_value_to_float_if_possible as to_float,
            )
        except ImportError:
            to_float = None
        self._to_float = to_float
        # name a bad point as `log_batch` does ("metrics[3].name"), where this MLflow can
        self._names_index = "path" in inspect.signature(_validate_metric).parameters
        try:
            from mlflow.tracking.fluent import get_active_model_id
        except ImportError:  # an MLflow without active models links no metric to one
            get_active_model_id = None
        self._active_model_id = get_active_model_id
        # MLflow 3.x before the read/write session split takes no argument (every session writes)
        takes_read_only = "read_only" in inspect.signature(store.ManagedSessionMaker).parameters
        self._session_args = {"read_only": False} if takes_read_only else {}

    def log(self, run_id: str, metrics: Sequence[Metric]) -> bool:
        """Store `metrics` for `run_id`; False (nothing stored) when some point is already there or
        an active MLflow model would have them linked to it, so the caller sends the batch through
        `log_batch`. MLflow's errors (bad key, run not active, database busy) are raised as
        `log_batch` raises them."""
        if self._active_model_id is not None and self._active_model_id():
            return False  # MLflow links the points to that model too (its `logged_model_metrics`)
        self._validate_run_id(run_id)
        rows: list[dict[str, Any]] = []
        newest: dict[str, dict[str, Any]] = {}  # each key's newest point: all latest_metrics needs
        for index, m in enumerate(metrics):
            given = self._to_float(m.value) if self._to_float is not None else m.value
            if self._names_index:
                self._validate(m.key, given, m.timestamp_ms, m.step, path=f"metrics[{index}]")
            else:
                self._validate(m.key, given, m.timestamp_ms, m.step)
            is_nan, value = self._store.sanitize_metric_value(given)
            row = {"run_uuid": run_id, "key": m.key, "value": value, "timestamp": m.timestamp_ms,
                   "step": m.step, "is_nan": is_nan}
            rows.append(row)
            seen = newest.get(m.key)
            if seen is None or (m.step, m.timestamp_ms, value) > (seen["step"], seen["timestamp"], seen["value"]):
                newest[m.key] = row
        with self._store.ManagedSessionMaker(**self._session_args) as session:
            self._store._check_run_is_active(self._store._get_run(run_uuid=run_id, session=session))
            try:
                session.execute(self._insert, rows)
            except self._integrity_error:
                session.rollback()
                return False
            # transient objects, never added to the session: MLflow reads their fields only
            self._store._update_latest_metrics_if_necessary(
                [self._sql_metric(**row) for row in newest.values()], session)
        return True


def metric_rows(store: Any) -> MetricRows | None:
    """A writer for `store` if it is MLflow's SQLAlchemy store on SQLite with the internals and
    table layout this writes to; None otherwise."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        if not isinstance(store, SqlAlchemyStore) or store.db_type != "sqlite":
            return None
        if type(store).log_batch is not SqlAlchemyStore.log_batch:  # a subclass that logs its own way
            return None
        for needed in ("ManagedSessionMaker", "sanitize_metric_value", "_get_run", "_check_run_is_active",
                       "_update_latest_metrics_if_necessary"):
            if not callable(getattr(store, needed, None)):
                return None
        writer = MetricRows(store)
        columns = {column.name for column in writer._sql_metric.__table__.columns}
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return writer if columns == METRIC_COLUMNS else None
