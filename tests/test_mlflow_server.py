"""Against a real `mlflow server` process: a full run, and a server that dies mid-run."""

import time

import pytest
from conftest import only_run_dir, read_summary, run_cli, write_spec

pytest.importorskip("flask", reason="a real MLflow server needs full mlflow: pip install 'mlcore[ui]'")
from mlflow_server import MlflowServer

# A real server takes 20-30 s of a CPU to start: one at a time under pytest-xdist.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow_server")]


@pytest.fixture
def server(tmp_path, migrated_store):
    srv = MlflowServer(tmp_path / "server", template=migrated_store / "mlflow.db")
    srv.start()
    yield srv
    srv.stop()


def test_run_against_a_server_reads_back_with_plain_client(cli_env, tmp_path, server):
    """Params, every metric step, tags, artifacts and status are on the server."""
    spec = write_spec(tmp_path / "steps.yaml", "plugin: ext_steps\ndata_spec: {steps: 30}\ntags: {purpose: smoke}\n")
    proc = run_cli(["run", str(spec), "--tracking-uri", server.uri], cli_env)
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(only_run_dir(tmp_path / "artifacts"))
    assert summary["tracking"]["uri"] == server.uri and summary["tracking"]["pending"] == 0

    from mlflow import MlflowClient

    client = MlflowClient(server.uri)
    run = client.get_run(summary["tracking"]["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params == {"data.steps": "30"}
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == list(range(30))
    assert run.data.tags["purpose"] == "smoke" and run.data.tags["plugin"] == "ext_steps"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"metrics", "summary", "reports", "logs"}


def test_server_down_mid_run_then_sync(cli_env, tmp_path, server):
    """The server stops mid-run: the run finishes in seconds with calls pending; after restart,
    `core sync` sends them and MLflow holds every metric exactly once."""
    import subprocess
    import sys

    spec = write_spec(tmp_path / "steps.yaml", "plugin: ext_steps\ndata_spec: {steps: 40, pause_after: 20}\n")
    proc = subprocess.Popen([sys.executable, "-m", "core", "run", str(spec), "--tracking-uri", server.uri],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = tmp_path / "artifacts"
    deadline = time.time() + 240
    while time.time() < deadline and not list(root.glob("runs/*/paused")):
        time.sleep(0.05)
    run_dir = only_run_dir(root)
    server.stop()
    resumed = time.time()
    (run_dir / "resume").write_text("")
    out, err = proc.communicate(timeout=120)
    elapsed = time.time() - resumed
    assert proc.returncode == 0, err
    assert elapsed < 20, f"run took {elapsed:.1f}s after the server went down"
    summary = read_summary(run_dir)
    assert summary["status"] == "FINISHED"
    assert summary["tracking"]["pending"] > 0
    assert summary["tracking"]["last_error"]
    assert "core sync" in out

    server.start()
    proc = run_cli(["sync", run_dir.name], cli_env)
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(run_dir)
    assert summary["tracking"]["pending"] == 0

    from mlflow import MlflowClient

    client = MlflowClient(server.uri)
    run = client.get_run(summary["tracking"]["run_id"])
    assert run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == list(range(40))  # every point, none twice
    assert len(client.search_runs([run.info.experiment_id])) == 1
