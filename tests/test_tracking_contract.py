"""One contract suite, every tracking backend: the fake and MLflow behave the same."""

import pytest

from core import Metric, RunStatus
from core._tracking import TrackingTarget, open_backend, prepare_experiment, resolve_target


def _read_fake(backend, run_id):
    run = backend.runs[run_id]
    return {
        "params": run.params,
        "tags": {k: v for k, v in run.tags.items() if not k.startswith("mlflow.")},
        "metrics": [(m.key, m.value, m.step, m.timestamp_ms) for m in run.metrics],
        "artifacts": set(run.artifacts),
        "status": run.status.value,
    }


def _read_mlflow(backend, run_id):
    client = backend.client
    run = client.get_run(run_id)
    metrics = []
    for key in sorted(run.data.metrics):
        metrics += [(m.key, m.value, m.step, m.timestamp) for m in client.get_metric_history(run_id, key)]

    def walk(path=None):
        for item in client.list_artifacts(run_id, path):
            yield from walk(item.path) if item.is_dir else [item.path]

    return {
        "params": run.data.params,
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "metrics": metrics,
        "artifacts": set(walk()),
        "status": run.info.status,
    }


@pytest.fixture(params=["memory", "sqlite"])
def backend_and_reader(request, tmp_path):
    if request.param == "memory":
        target = TrackingTarget("memory")
    else:  # the embedded store, its schema copied in already migrated (conftest)
        target = resolve_target(None, artifact_root=request.getfixturevalue("embedded_store"))
    backend = open_backend(target)
    prepare_experiment(backend, target, "contract")
    reader = _read_fake if request.param == "memory" else _read_mlflow
    yield backend, lambda run_id: reader(backend, run_id)
    backend.close()


class TestTrackingContract:
    def _start(self, backend):
        return backend.start_run(experiment="contract", run_name="r1", tags={"plugin": "x"}, start_time_ms=1000)

    def test_start_run_creates_a_running_run_with_tags(self, backend_and_reader):
        """start_run returns an id; the run is RUNNING and carries the tags."""
        backend, read = backend_and_reader
        run_id = self._start(backend)
        got = read(run_id)
        assert got["status"] == "RUNNING"
        assert got["tags"]["plugin"] == "x"

    def test_log_batch_keeps_order_steps_and_timestamps(self, backend_and_reader):
        """Metrics come back with the values, steps and timestamps they were logged with."""
        backend, read = backend_and_reader
        run_id = self._start(backend)
        points = [Metric("loss", 1.0 / (i + 1), i, 2000 + i) for i in range(5)]
        backend.log_batch(run_id, metrics=points, params={"model.type": "rf"}, tags={"stage": "dev"})
        got = read(run_id)
        assert got["metrics"] == [(m.key, m.value, m.step, m.timestamp_ms) for m in points]
        assert got["params"] == {"model.type": "rf"}
        assert got["tags"]["stage"] == "dev"

    def test_artifacts_land_under_their_artifact_path(self, backend_and_reader, tmp_path):
        """log_artifact and log_artifacts keep artifact_path and the folder layout."""
        backend, read = backend_and_reader
        run_id = self._start(backend)
        f = tmp_path / "m.json"
        f.write_text("{}")
        backend.log_artifact(run_id, f, "metrics")
        d = tmp_path / "plots"
        (d / "sub").mkdir(parents=True)
        (d / "a.png").write_bytes(b"x")
        (d / "sub" / "b.png").write_bytes(b"y")
        backend.log_artifacts(run_id, d, "plots")
        assert read(run_id)["artifacts"] == {"metrics/m.json", "plots/a.png", "plots/sub/b.png"}

    @pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
    def test_end_run_sets_the_status(self, backend_and_reader, status):
        """end_run records FINISHED, FAILED or KILLED."""
        backend, read = backend_and_reader
        run_id = self._start(backend)
        backend.end_run(run_id, status, 5000)
        assert read(run_id)["status"] == status.value
