"""The bulk metric writer (`core._tracking.metric_rows`) leaves the embedded store exactly as
MLflow's own `log_batch` would: the same batches go both ways, into two runs of one store, and the
`metrics` and `latest_metrics` tables are compared row by row."""

from __future__ import annotations

import contextlib
import math
import sqlite3

import pytest
from conftest import copy_store

from core._tracking import default_target
from core._tracking.backend import Metric
from core._tracking.metric_rows import metric_rows
from core._tracking.mlflow_backend import MlflowTracking

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def root(migrated_store, tmp_path_factory):
    """One store for the module (opening one costs MLflow ~2 s): every test makes runs of its own."""
    root = tmp_path_factory.mktemp("rows")
    copy_store(migrated_store, root)
    return root


@pytest.fixture(scope="module")
def backend(root):
    tracking = MlflowTracking(default_target(root).uri)
    tracking.open_store()
    return tracking


@pytest.fixture(scope="module")
def db(root):
    return default_target(root).uri[len("sqlite:///"):]


def _run(backend) -> str:
    return backend.start_run(experiment="rows", run_name="r", tags={}, start_time_ms=T0)


def _store(backend):
    return backend.client._tracking_client.store


def _by_mlflow(backend, run_id, metrics):
    from mlflow.entities import Metric as MlflowMetric

    backend.client.log_batch(run_id, metrics=[MlflowMetric(m.key, m.value, m.timestamp_ms, m.step) for m in metrics],
                             synchronous=True)


def _tables(db, run_id):
    with contextlib.closing(sqlite3.connect(db)) as conn:
        metrics = conn.execute("SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? "
                               "ORDER BY key, timestamp, step, value, is_nan", (run_id,)).fetchall()
        latest = conn.execute("SELECT key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? "
                              "ORDER BY key", (run_id,)).fetchall()
    return metrics, latest


BATCHES = [
    # two keys, steps out of order, a tie on step broken by the timestamp, NaN and both infinities
    [Metric("loss", 0.9, 3, T0 + 5), Metric("loss", 1.0, 1, T0 + 1), Metric("loss", 0.8, 3, T0 + 9),
     Metric("acc", float("nan"), 0, T0), Metric("acc", float("inf"), 1, T0 + 1), Metric("acc", -math.inf, 2, T0 + 2)],
    # older than what is stored: latest_metrics keeps the newer point
    [Metric("loss", 5.0, 0, T0 + 20), Metric("acc", 0.5, 1, T0)],
    # newer on one key, a new key; on equal (step, timestamp) the larger value is the newer
    [Metric("loss", 0.1, 7, T0 + 30), Metric("f1", 0.3, 0, T0), Metric("loss", 0.05, 7, T0 + 30),
     Metric("f1", 0.7, 0, T0), Metric("f1", 0.2, 0, T0)],
    [Metric(f"layer_{i % 7}", i / 3, i, T0 + i) for i in range(2_500)],
]


def test_the_bulk_writer_leaves_the_tables_as_mlflows_log_batch_does(backend, db):
    rows = metric_rows(_store(backend))
    assert rows is not None, "this MLflow's store should take the bulk path"
    bulk, plain = _run(backend), _run(backend)
    for batch in BATCHES:
        for start in range(0, len(batch), 1000):
            assert rows.log(bulk, batch[start:start + 1000])
            _by_mlflow(backend, plain, batch[start:start + 1000])
    stored, latest = _tables(db, bulk)
    assert (stored, latest) == _tables(db, plain)
    assert len(stored) == sum(map(len, BATCHES)) and len(latest) == 3 + 7


def test_a_resent_batch_is_stored_once_through_mlflows_own_recovery(backend, db):
    run_id = _run(backend)
    first = [Metric("loss", 1.0 / (i + 1), i, T0 + i) for i in range(500)]
    backend.log_batch(run_id, metrics=first)
    resent = first[250:] + [Metric("loss", 0.0, 500, T0 + 500)]  # the ack was lost: half again, one new point
    assert not metric_rows(_store(backend)).log(run_id, resent), "a repeated point must not take the bulk path"
    backend.log_batch(run_id, metrics=resent)
    stored, latest = _tables(db, run_id)
    assert len(stored) == 501 and len(set(stored)) == 501
    assert latest == [("loss", 0.0, T0 + 500, 500, 0)]


def test_a_point_repeated_within_one_batch_is_stored_once(backend, db):
    run_id = _run(backend)
    backend.log_batch(run_id, metrics=[Metric("loss", 0.5, 1, T0)] * 3 + [Metric("loss", 0.4, 2, T0)])
    assert len(_tables(db, run_id)[0]) == 2


def test_bad_input_and_a_finished_run_fail_as_mlflow_fails(backend, db):
    from mlflow.exceptions import MlflowException

    from core.contracts import RunStatus

    rows = metric_rows(_store(backend))
    run_id = _run(backend)
    for bad, run in (([Metric("bad//key", 1.0, 0, T0)], run_id), ([Metric("loss", 1.0, 0, -1)], run_id),
                     ([Metric("loss", 1.0, 0, T0)], "../x")):
        with pytest.raises(MlflowException) as ours:
            rows.log(run, bad)
        with pytest.raises(MlflowException) as theirs:
            _by_mlflow(backend, run, bad)
        assert (str(ours.value), ours.value.error_code) == (str(theirs.value), theirs.value.error_code)
    backend.end_run(run_id, RunStatus.FINISHED, T0 + 1)
    _store(backend).delete_run(run_id)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        rows.log(run_id, [Metric("loss", 1.0, 0, T0)])
    assert _tables(db, run_id) == ([], [])


def test_batches_with_params_or_tags_and_unknown_layouts_go_through_log_batch(backend, db, monkeypatch):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    run_id = _run(backend)
    calls = []
    real = SqlAlchemyStore.log_batch
    monkeypatch.setattr(SqlAlchemyStore, "log_batch", lambda self, **kw: calls.append(kw) or real(self, **kw))
    backend.log_batch(run_id, metrics=[Metric("loss", 1.0, 0, T0)])
    assert calls == []  # metrics alone: one INSERT
    backend.log_batch(run_id, metrics=[Metric("loss", 0.5, 1, T0)], params={"lr": "0.1"})
    assert len(calls) == 1 and len(_tables(db, run_id)[0]) == 2
    assert metric_rows(object()) is None

    class OwnLogging(SqlAlchemyStore):  # a store that logs its own way is left to do so
        def log_batch(self, run_id, metrics, params, tags):
            raise AssertionError

    own = OwnLogging.__new__(OwnLogging)
    own.__dict__.update(_store(backend).__dict__)
    assert metric_rows(own) is None
    monkeypatch.setattr("core._tracking.metric_rows.METRIC_COLUMNS", frozenset({"key", "value"}))
    assert metric_rows(_store(backend)) is None


def test_a_resend_given_as_an_iterator_keeps_its_new_points(backend, db):
    """The bulk path reads the batch, finds a stored point and hands the batch to log_batch: it must
    still hold every point then."""
    run_id = _run(backend)
    backend.log_batch(run_id, metrics=[Metric("loss", 1.0, i, T0 + i) for i in range(3)])
    backend.log_batch(run_id, metrics=(Metric("loss", 1.0, i, T0 + i) for i in range(2, 5)))
    assert len(_tables(db, run_id)[0]) == 5


def test_values_mlflows_client_converts_are_stored_as_it_stores_them(backend, db):
    rows = metric_rows(_store(backend))
    bulk, plain = _run(backend), _run(backend)
    batch = [Metric("flag", True, 0, T0), Metric("text", "1.5", 0, T0), Metric("count", 3, 0, T0)]
    assert rows.log(bulk, batch)
    _by_mlflow(backend, plain, batch)
    assert _tables(db, bulk) == _tables(db, plain)
    assert _tables(db, bulk)[0] == [("count", 3.0, T0, 0, 0), ("flag", 1.0, T0, 0, 0), ("text", 1.5, T0, 0, 0)]
