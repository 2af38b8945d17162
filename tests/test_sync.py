"""Offline runs and `core sync`: everything journaled is sent later, exactly once."""

import json

from conftest import only_run_dir, read_summary, run_cli, write_spec


def _client(root):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")


def test_offline_run_then_sync_sends_everything_once(mlflow_env, tmp_path):
    """`--offline` sends nothing; `core sync` creates the run with every metric once; a second sync sends nothing."""
    spec = write_spec(tmp_path / "steps.yaml", "plugin: ext_steps\ndata_spec: {steps: 1500}\n")
    proc = run_cli(["run", str(spec), "--offline"], mlflow_env)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "artifacts"
    run_dir = only_run_dir(root)
    summary = read_summary(run_dir)
    assert summary["status"] == "FINISHED"
    assert summary["tracking"]["backend"] == "offline"
    assert summary["tracking"]["run_id"] is None
    assert summary["tracking"]["pending"] > 1500
    assert "core sync" in proc.stdout

    proc = run_cli(["sync"], mlflow_env)
    assert proc.returncode == 0, proc.stderr
    assert "1500 metric" in proc.stdout
    summary = read_summary(run_dir)
    assert summary["tracking"]["pending"] == 0
    client = _client(root)
    mlflow_run = client.get_run(summary["tracking"]["run_id"])
    assert mlflow_run.info.status == "FINISHED"
    history = client.get_metric_history(mlflow_run.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == list(range(1500))
    assert mlflow_run.data.params == {"data.steps": "1500"}

    proc = run_cli(["sync", run_dir.name[:20], "--json"], mlflow_env)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)[0]["sent"] == {}
    runs = client.search_runs([mlflow_run.info.experiment_id])
    assert len(runs) == 1


def test_sync_unknown_run_is_bad_input(mlflow_env):
    """A run id that matches nothing exits 2 with one line."""
    proc = run_cli(["sync", "nope"], mlflow_env)
    assert proc.returncode == 2
    assert "no run 'nope'" in proc.stderr
