"""The runner owns the lifecycle: every run leaves a truthful summary, whatever the plugin does."""

import json
import os

import pytest
from ext_pkg import Echo, Fail

from core import LifecycleError, Plugin, PluginInfo, RunResult, RunSpec, RunStatus, SpecError
from core._registry import Registry
from core._runner import new_run_id, run
from core._tracking.fake import FakeTracking


class EndsItsOwnRun(Plugin):
    info = PluginInfo(key="rogue", description="tries to end the run itself")

    def run(self, spec, *, context):
        context.tracking.end_run()
        return RunResult()


class ReturnsDict(Plugin):
    info = PluginInfo(key="dicty", description="returns a dict")

    def run(self, spec, *, context):
        return {"a": 1}


class Strict(Plugin):
    info = PluginInfo(key="strict", description="validates its config")

    def validate(self, spec):
        if "n" not in spec.data_spec:
            raise SpecError("is required", field="data_spec.n")

    def run(self, spec, *, context):
        return RunResult(outputs={"n": spec.data_spec["n"]})


REGISTRY = Registry({c.info.key: c for c in (Echo, Fail, EndsItsOwnRun, ReturnsDict, Strict)})


def _run(tmp_path, plugin, **kwargs):
    fake = FakeTracking()
    spec = kwargs.pop("spec", None) or RunSpec(plugin=plugin, seed=5, tags={"purpose": "smoke", "team": "a"})
    outcome = run(spec, artifact_root=tmp_path, registry=REGISTRY, backend=fake, **kwargs)
    return outcome, fake


def test_finished_run_records_everything(tmp_path):
    """A finished run has outputs, params, metrics, artifacts, tags and a FINISHED summary."""
    outcome, fake = _run(tmp_path, "echo")
    assert outcome.status is RunStatus.FINISHED and outcome.exit_code == 0
    assert outcome.outputs == {"answer": 42}
    assert outcome.run_dir == tmp_path / "runs" / outcome.run_id
    recorded = fake.only_run()
    assert recorded.status is RunStatus.FINISHED
    assert recorded.params == {"data.n": "3", "model.type": "none"}
    assert [(m.key, m.value, m.step) for m in recorded.metrics] == [("train_loss", 0.5, 1)]
    assert recorded.tags["plugin"] == "echo"
    assert recorded.tags["purpose"] == "smoke"
    assert recorded.tags["pipeline"] == "train"
    assert recorded.tags["team"] == "a"
    assert recorded.tags["mlcore.run_id"] == outcome.run_id
    assert recorded.run_name == outcome.run_id
    assert set(recorded.artifacts) == {"metrics/m.json", "summary/run_summary.json", "reports/report.html",
                                       "logs/run.log"}
    assert "done" in (outcome.run_dir / "logs" / "run.log").read_text()


def test_summary_fields(tmp_path):
    """The summary holds id, plugin, resolved spec, status, times, outputs, metrics, tracking, environment."""
    outcome, fake = _run(tmp_path, "echo")
    summary = json.loads((outcome.run_dir / "summary" / "run_summary.json").read_text())
    assert summary["run_id"] == outcome.run_id
    assert summary["status"] == "FINISHED"
    assert summary["plugin"]["key"] == "echo"
    assert summary["spec"]["plugin"] == "echo" and summary["spec"]["seed"] == 5
    assert summary["started_at"].endswith("Z") and summary["ended_at"].endswith("Z")
    assert summary["duration_s"] >= 0
    assert summary["outputs"] == {"answer": 42}
    assert summary["metrics"] == {"train_loss": 0.5}
    assert summary["tracking"]["backend"] == "memory"
    assert summary["tracking"]["run_id"] == fake.only_run().run_id
    assert summary["tracking"]["pending"] == 0
    assert summary["tags"]["plugin"] == "echo" and summary["host"] and summary["pid"] == os.getpid()
    env = summary["environment"]
    for key in ("python", "platform", "host", "mlcore", "git_commit", "packages"):
        assert key in env
    assert summary["error"] is None


def test_failing_plugin_is_failed_with_traceback_and_earlier_metrics(tmp_path):
    """A plugin that raises: FAILED everywhere, traceback on disk, metrics logged before kept."""
    outcome, fake = _run(tmp_path, "ext_fail")
    assert outcome.status is RunStatus.FAILED and outcome.exit_code == 1
    text = (outcome.run_dir / "errors" / "exception.txt").read_text()
    assert "Traceback" in text and "boom from ext_fail" in text
    summary = json.loads((outcome.run_dir / "summary" / "run_summary.json").read_text())
    assert summary["status"] == "FAILED"
    assert summary["error"]["type"] == "RuntimeError"
    assert "boom from ext_fail" in summary["error"]["message"]
    recorded = fake.only_run()
    assert recorded.status is RunStatus.FAILED
    assert [m.value for m in recorded.metric_history("train_loss")] == [1.0, 0.9]
    assert "errors/exception.txt" in recorded.artifacts


def test_plugin_cannot_end_its_own_run(tmp_path):
    """end_run on the plugin's handle raises LifecycleError; the run is FAILED by core."""
    outcome, fake = _run(tmp_path, "rogue")
    assert outcome.status is RunStatus.FAILED
    assert "core owns the run lifecycle" in outcome.error
    assert fake.only_run().status is RunStatus.FAILED
    with pytest.raises(LifecycleError):
        from core._tracking.handle import TrackingHandle

        TrackingHandle(None).start_run()  # type: ignore[arg-type]


def test_result_must_be_a_run_result(tmp_path):
    """Returning something else is a FAILED run with a message naming the type."""
    outcome, _ = _run(tmp_path, "dicty")
    assert outcome.status is RunStatus.FAILED
    assert "returned dict, not core.RunResult" in outcome.error


def test_validate_runs_before_any_folder_exists(tmp_path):
    """A plugin's own config check rejects the spec before a run folder is made."""
    with pytest.raises(SpecError, match="data_spec.n"):
        _run(tmp_path, "strict", spec=RunSpec(plugin="strict"))
    assert not (tmp_path / "runs").exists()
    outcome, _ = _run(tmp_path, "strict", spec=RunSpec(plugin="strict", data_spec={"n": 2}))
    assert outcome.outputs == {"n": 2}


def test_run_ids_sort_by_time_and_are_filesystem_safe():
    """Run ids sort in start order and use only safe characters."""
    from datetime import datetime, timezone

    a = new_run_id(datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=timezone.utc))
    b = new_run_id(datetime(2026, 1, 1, 0, 0, 0, 2000, tzinfo=timezone.utc))
    assert a < b
    assert all(c.isalnum() or c == "-" for c in a)
    # made together (a sweep's runs), they still sort in the order they were made, and name the time
    made = [new_run_id() for _ in range(200)]
    assert made == sorted(made) and len(set(made)) == 200
    stamp = datetime.strptime(made[0][:19], "%Y%m%d-%H%M%S-%f").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60


def test_seed_makes_python_random_repeatable(tmp_path):
    """`spec.seed` seeds Python's RNG before `run()`."""
    import random

    class Draw(Plugin):
        info = PluginInfo(key="draw")

        def run(self, spec, *, context):
            return RunResult(outputs={"x": random.random()})

    registry = Registry({"draw": Draw})
    outs = [run(RunSpec(plugin="draw", seed=11), artifact_root=tmp_path, registry=registry,
                backend=FakeTracking()).outputs["x"] for _ in range(2)]
    assert outs[0] == outs[1]
