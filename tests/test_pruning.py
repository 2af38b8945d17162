"""PRUNED through the contract: a run whose search trial's pruner says stop ends PRUNED (not a failure),
with everything it logged kept, its `finally` run, and MLflow's record KILLED plus `mlcore.pruned` tags.

The trial here is a plain object (core's `TrialReporter`): no Optuna needed, these run core-only."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import only_run_dir, read_summary
from ext_pkg.curve import Curve

from core import RunPruned, RunSpec, RunStatus
from core._records import RecordStatus, read_run
from core._registry import Registry
from core._runner import run
from core._tracking.fake import FakeTracking

REGISTRY = Registry({"ext_curve": Curve})


class StopAt:
    """A trial whose pruner says stop once `step` is reported."""

    metric = "val_loss"

    def __init__(self, step: int) -> None:
        self.step = step
        self.reported: list[tuple[int, float]] = []

    def report(self, value: float, step: int) -> bool:
        self.reported.append((step, value))
        return step >= self.step


def _spec(**cfg):
    return RunSpec(plugin="ext_curve", seed=3, data_spec={"epochs": 8, **cfg})


def test_pruned_run_keeps_its_metrics_runs_finally_and_is_not_a_failure(tmp_path):
    fake, trial = FakeTracking(), StopAt(3)
    outcome = run(_spec(), artifact_root=tmp_path, registry=REGISTRY, backend=fake, trial=trial)
    assert outcome.status is RunStatus.PRUNED and outcome.exit_code == 0 and outcome.error is None
    assert [s for s, _ in trial.reported] == [1, 2, 3]  # every epoch reported, none after the stop
    recorded = fake.only_run()
    assert recorded.status is RunStatus.PRUNED and RunStatus.PRUNED.mlflow_name == "KILLED"
    assert recorded.tags["mlcore.pruned"] == "true" and recorded.tags["mlcore.pruned_step"] == "3"
    assert sorted(m.step for m in recorded.metrics if m.key == "val_loss") == [1, 2, 3]
    assert "models/last.json" in recorded.artifacts  # the plugin's `finally` logged it after the prune
    assert json.loads((outcome.run_dir / "models" / "last.json").read_text()) == {"epochs_done": 3}
    summary = read_summary(outcome.run_dir)
    assert summary["status"] == "PRUNED" and summary["error"] is None
    assert summary["metrics"]["val_loss"] == pytest.approx(trial.reported[-1][1])
    assert not (outcome.run_dir / "errors" / "exception.txt").exists()
    assert read_run(outcome.run_dir).status is RecordStatus.PRUNED


def test_a_trial_that_never_says_stop_and_a_failing_study_leave_the_run_finished(tmp_path):
    class Broken(StopAt):
        def report(self, value, step):
            raise OSError("the study's storage is gone")

    for trial in (StopAt(99), Broken(1)):
        outcome = run(_spec(), artifact_root=tmp_path, registry=REGISTRY, backend=FakeTracking(), trial=trial)
        assert outcome.status is RunStatus.FINISHED and outcome.outputs["epochs"] == 8


def test_a_plugin_that_swallows_the_prune_still_ends_pruned(tmp_path):
    class Swallows(Curve):
        def run(self, spec, *, context):
            try:
                return super().run(spec, context=context)
            except RunPruned:
                context.tracking.log_metric("test_after", 1.0)  # later calls go through
                return super().run(RunSpec(plugin="ext_curve", data_spec={"epochs": 1}), context=context)

    fake = FakeTracking()
    outcome = run(_spec(), artifact_root=tmp_path, registry=Registry({"ext_curve": Swallows}), backend=fake,
                  trial=StopAt(2))
    assert outcome.status is RunStatus.PRUNED
    assert fake.only_run().tags["mlcore.pruned_step"] == "2"


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="needs MLflow (the ui extra)")
def test_pruned_offline_run_is_settled_pruned_by_sync(mlflow_env, tmp_path):
    """A pruned run that could not reach tracking: its journaled outcome reaches MLflow as KILLED
    with the pruned tags, every metric kept; the summary stays PRUNED."""
    import mlflow
    from conftest import run_cli

    root = tmp_path / "artifacts"
    outcome = run(_spec(), artifact_root=root, registry=REGISTRY, offline=True, trial=StopAt(4))
    assert outcome.status is RunStatus.PRUNED
    proc = run_cli(["sync"], {**mlflow_env, "CORE_ARTIFACT_ROOT": str(root)})
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(only_run_dir(root))
    assert summary["status"] == "PRUNED" and summary["tracking"]["pending"] == 0
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    got = client.get_run(summary["tracking"]["run_id"])
    assert got.info.status == "KILLED"
    assert got.data.tags["mlcore.pruned"] == "true" and got.data.tags["mlcore.pruned_step"] == "4"
    assert sorted(m.step for m in client.get_metric_history(got.info.run_id, "val_loss")) == [1, 2, 3, 4]
