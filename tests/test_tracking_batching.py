"""Batched, journaled tracking: few backend calls, exact order, call-time timestamps, checks at the call."""

import time

import pytest

from core import InvalidTrackingValue, Plugin, PluginInfo, RunResult, RunSpec
from core._registry import Registry
from core._runner import run
from core._tracking.fake import FakeTracking


class Many(Plugin):
    info = PluginInfo(key="many")

    def run(self, spec, *, context):
        n = spec.data_spec["n"]
        for step in range(n):
            context.tracking.log_metric("train_loss", float(step), step=step)
        return RunResult()


def _run(tmp_path, plugin_cls, data_spec=None):
    fake = FakeTracking()
    registry = Registry({plugin_cls.info.key: plugin_cls})
    outcome = run(RunSpec(plugin=plugin_cls.info.key, data_spec=data_spec or {}), artifact_root=tmp_path,
                  registry=registry, backend=fake)
    return outcome, fake


def test_metrics_go_out_in_batches_of_at_most_1000(tmp_path):
    """2,500 points: three metric batches, every point present in order with its step."""
    outcome, fake = _run(tmp_path, Many, {"n": 2500})
    recorded = fake.only_run()
    assert [m.step for m in recorded.metrics] == list(range(2500))
    assert [m.value for m in recorded.metrics] == [float(i) for i in range(2500)]
    assert fake.calls["log_batch"] <= 4  # 3 full or partial metric batches + the run tags
    assert outcome.summary.tracking.pending == 0


def test_timestamps_are_when_the_metric_was_logged_and_artifacts_flush_first(tmp_path):
    """A point keeps its call time even if sent later; an artifact is sent after what came before it."""

    class Slow(Plugin):
        info = PluginInfo(key="slow")

        def run(self, spec, *, context):
            context.tracking.log_metric("a", 1.0, step=0)
            logged_at = time.time() * 1000
            time.sleep(0.3)
            path = context.artifact_dir / "metrics" / "x.json"
            path.parent.mkdir()
            path.write_text("{}")
            context.tracking.log_artifact(path, "metrics")
            return RunResult(outputs={"logged_at": logged_at})

    outcome, fake = _run(tmp_path, Slow)
    point = fake.only_run().metrics[0]
    assert abs(point.timestamp_ms - outcome.outputs["logged_at"]) < 100
    order = fake.call_order
    assert order.index("log_batch", 1) < order.index("log_artifact")


def test_journal_records_every_call_before_sending(tmp_path):
    """The run folder's journal holds the start, every point, the artifacts and the end."""
    import json

    outcome, _ = _run(tmp_path, Many, {"n": 10})
    lines = (outcome.run_dir / "tracking" / "journal.jsonl").read_text().splitlines()
    ops = [json.loads(line)["op"] for line in lines]
    assert ops[0] == "start" and ops[-1] == "end"
    assert ops.count("metric") == 10
    state = json.loads((outcome.run_dir / "tracking" / "state.json").read_text())
    assert state["sent_seq"] == len(lines)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda t: t.log_param("bad key!", 1), ["param name", "characters MLflow rejects"]),
        (lambda t: t.log_param("model.x", "y" * 6001), ["6001 characters", "JSON artifact"]),
        (lambda t: (t.log_param("model.x", 1), t.log_param("model.x", 2)), ["cannot change"]),
        (lambda t: t.log_metric("train_loss", "high"), ["must be a number"]),
        (lambda t: t.log_metric("train_loss", 1.0, step=1.5), ["step", "integer"]),
        (lambda t: t.log_metric("../up", 1.0), ["clean relative path"]),
        (lambda t: t.set_tag("t", "v" * 8001), ["8001 characters"]),
    ],
)
def test_values_mlflow_would_reject_or_change_fail_at_the_call(tmp_path, call, words):
    """Bad names and values raise InvalidTrackingValue where the plugin made the call."""
    caught = {}

    class Bad(Plugin):
        info = PluginInfo(key="bad")

        def run(self, spec, *, context):
            try:
                call(context.tracking)
            except InvalidTrackingValue as exc:
                caught["message"] = str(exc)
            return RunResult()

    _run(tmp_path, Bad)
    for word in words:
        assert word in caught["message"]


def test_same_param_value_twice_is_fine(tmp_path):
    """Re-logging an unchanged param is a no-op, not an error."""

    class Twice(Plugin):
        info = PluginInfo(key="twice")

        def run(self, spec, *, context):
            context.tracking.log_param("model.x", 1)
            context.tracking.log_params({"model.x": "1", "model.y": 2})
            return RunResult()

    outcome, fake = _run(tmp_path, Twice)
    assert fake.only_run().params == {"model.x": "1", "model.y": "2"}
