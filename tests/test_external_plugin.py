"""A third-party plugin package installed with pip is listed, runs, and is visible in MLflow."""

import json
from pathlib import Path

from conftest import only_run_dir, read_summary, run_cli, write_spec


def test_external_plugin_runs_and_is_visible_to_plain_mlflow(fresh_store_env, tmp_path):
    """Params, metric history, tags, artifacts and status read back with a plain MlflowClient.

    On a brand-new artifact root: the run creates the embedded store (the core-only job's test of
    first use; tests/test_concurrency.py does it with eight processes at once)."""
    spec = write_spec(tmp_path / "echo.yaml", "plugin: echo\nname: my-echo\nexperiment: ext\ntags: {purpose: smoke}\n")
    proc = run_cli(["run", str(spec), "--json"], fresh_store_env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    root = tmp_path / "artifacts"
    summary = read_summary(only_run_dir(root))

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    run = client.get_run(out["tracking"]["run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "my-echo"
    experiment = client.get_experiment(run.info.experiment_id)
    # opens on MLflow 3's training-runs view, not its GenAI traces page (issue 21)
    assert experiment.name == "ext" and experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.data.params == {"data.n": "3", "model.type": "none"}
    assert [(m.value, m.step) for m in client.get_metric_history(run.info.run_id, "train_loss")] == [(0.5, 1)]
    assert run.data.tags["plugin"] == "echo"
    assert run.data.tags["purpose"] == "smoke"
    assert run.data.tags["pipeline"] == "train"
    assert run.data.tags["mlcore.run_id"] == summary["run_id"]
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert top == {"metrics", "summary", "reports", "logs"}
    assert [a.path for a in client.list_artifacts(run.info.run_id, "logs")] == ["logs/run.log"]
    logged = client.download_artifacts(run.info.run_id, "logs/run.log", str(root.parent / "dl"))
    assert "FINISHED in" in Path(logged).read_text()  # the run's log to its last line about the run
    assert [a.path for a in client.list_artifacts(run.info.run_id, "metrics")] == ["metrics/m.json"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "summary")] == ["summary/run_summary.json"]
    # artifacts live inside the artifact root, not in a ./mlruns of the working directory
    assert (root / "mlflow" / "artifacts").exists()
    assert not (tmp_path / "mlruns").exists()
