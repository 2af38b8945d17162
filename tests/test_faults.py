"""The fault matrix (RELIABILITY.md): each fault is done to a real `core run` process, then the
record is read back from disk and from MLflow. Every test here has its row in RELIABILITY.md."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_summary, run_cli, write_spec
from mlflow import MlflowClient  # mlflow-skinny is a core dependency


def _start(cli_env, spec_path):
    return subprocess.Popen([sys.executable, "-m", "core", "run", str(spec_path), "--json"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(cli_env):
    runs = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ready = list(runs.glob("*/ready"))
        if ready:
            return ready[0].parent
        time.sleep(0.05)
    pytest.fail("the run never got going")


def _tracked(summary):
    client = MlflowClient(summary["tracking"]["uri"])
    run = client.get_run(summary["tracking"]["run_id"])
    return client, run


def _only_run_dir(cli_env):
    runs = list((Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def test_fault_plugin_raises(mlflow_env, tmp_path):
    proc = run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: ext_fail\n"))], mlflow_env)
    assert proc.returncode == 1
    run_dir = _only_run_dir(mlflow_env)
    summary = read_summary(run_dir)
    assert summary["status"] == "FAILED" and "boom from ext_fail" in summary["error"]["message"]
    assert "Traceback" in (run_dir / "errors" / "exception.txt").read_text()
    client, tracked = _tracked(summary)
    assert tracked.info.status == "FAILED"
    assert [m.value for m in client.get_metric_history(tracked.info.run_id, "train_loss")] == [1.0, 0.9]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_fault_interrupted_by_signal(mlflow_env, tmp_path, sig, code):
    proc = _start(mlflow_env, write_spec(tmp_path / "s.yaml", "plugin: ext_sleep\ndata_spec: {seconds: 60}\n"))
    run_dir = _wait_ready(mlflow_env)
    proc.send_signal(sig)
    proc.communicate(timeout=180)
    assert proc.returncode == code
    summary = read_summary(run_dir)
    assert summary["status"] == "KILLED" and summary["error"]["message"] == f"interrupted by {sig.name}"
    client, tracked = _tracked(summary)
    assert tracked.info.status == "KILLED"
    assert len(client.get_metric_history(tracked.info.run_id, "train_loss")) == 3


def test_fault_killed_with_sigkill_then_repaired(mlflow_env, tmp_path):
    proc = _start(mlflow_env, write_spec(tmp_path / "s.yaml", "plugin: ext_sleep\ndata_spec: {seconds: 60}\n"))
    run_dir = _wait_ready(mlflow_env)
    proc.kill()
    proc.communicate(timeout=180)
    assert read_summary(run_dir)["status"] == "RUNNING"  # nothing could run in the killed process
    listed = json.loads(run_cli(["runs", "list", "--json"], mlflow_env).stdout)[0]
    assert listed["display_status"] == "DEAD"
    repaired = run_cli(["runs", "repair"], mlflow_env)
    assert repaired.returncode == 0, repaired.stderr
    assert "KILLED on disk and in tracking" in repaired.stdout
    summary = read_summary(run_dir)
    assert summary["status"] == "KILLED" and summary["error"]["type"] == "ProcessDied"
    assert summary["metrics"] == {"train_loss": pytest.approx(1 / 3)}
    client, tracked = _tracked(summary)
    assert tracked.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(tracked.info.run_id, "train_loss")] == [0, 1, 2]
    again = run_cli(["runs", "repair", run_dir.name], mlflow_env)
    assert "not repaired: it ended KILLED" in again.stdout


def test_fault_tracking_server_down_at_start(cli_env, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(tmp_path / "s.yaml", "plugin: echo\n")
    proc = run_cli(["run", str(spec), "--tracking-uri", f"http://127.0.0.1:{port}"], cli_env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    run_dir = _only_run_dir(cli_env)
    summary = read_summary(run_dir)
    assert summary["status"] == "FINISHED" and summary["tracking"]["pending"] > 0
    assert summary["tracking"]["last_error"] and f"core sync {run_dir.name}" in proc.stdout
    ops = [json.loads(line)["op"] for line in (run_dir / "tracking" / "journal.jsonl").read_text().splitlines()]
    assert ops[0] == "start" and ops[-1] == "end" and "metric" in ops and "params" in ops


def test_fault_artifact_root_not_writable(cli_env, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the artifact root should be")
    proc = run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n")), "--artifact-root", str(blocked)],
                   cli_env)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot create run folder" in proc.stderr
    assert blocked.read_text() == "a file where the artifact root should be"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system to make writes fail ENOSPC")
def test_fault_disk_full_while_writing_an_artifact(mlflow_env, tmp_path):
    proc = run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: ext_diskfull\n"))], mlflow_env)
    assert proc.returncode == 1
    summary = read_summary(_only_run_dir(mlflow_env))
    assert summary["status"] == "FAILED" and "No space left on device" in summary["error"]["message"]
    assert summary["metrics"] == {"train_loss": 0.5}
    client, tracked = _tracked(summary)
    assert tracked.info.status == "FAILED" and tracked.data.metrics["train_loss"] == 0.5


def test_fault_plugin_returns_something_else(cli_env, tmp_path):
    proc = run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: ext_badresult\n"))], cli_env)
    assert proc.returncode == 1
    summary = read_summary(_only_run_dir(cli_env))
    assert summary["status"] == "FAILED" and "returned dict, not core.RunResult" in summary["error"]["message"]
    assert summary["metrics"] == {"train_loss": 0.5}


@pytest.mark.parametrize("via", ["path", "link"])
def test_fault_plugin_logs_a_file_from_outside_its_run_folder(mlflow_env, tmp_path, via):
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not yours")
    spec = write_spec(tmp_path / "s.yaml", f"plugin: ext_escape\ndata_spec: {{outside: '{secret}', via: {via}}}\n")
    proc = run_cli(["run", str(spec)], mlflow_env)
    assert proc.returncode == 1
    summary = read_summary(_only_run_dir(mlflow_env))
    assert summary["status"] == "FAILED" and "must be inside the run folder" in summary["error"]["message"]
    client, tracked = _tracked(summary)
    assert tracked.info.status == "FAILED"
    assert client.list_artifacts(tracked.info.run_id, "data") == []  # nothing was copied out
