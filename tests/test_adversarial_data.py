"""Issue 20, data loss, duplication and status: each test does what the adversarial pass did to
real `core` processes (kills at chosen moments, concurrent commands, a full disk) and reads the
record back from disk and from MLflow. Every test here has its row in RELIABILITY.md."""

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_summary, run_cli, write_spec
from mlflow import MlflowClient  # mlflow-skinny is a core dependency

# -- helpers ------------------------------------------------------------------------------------


def _root(env):
    return Path(env["CORE_ARTIFACT_ROOT"])


def _start(env, spec_path, *flags):
    return subprocess.Popen([sys.executable, "-m", "core", "run", str(spec_path), *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(env, name, timeout=60):
    """The run folder once its plugin has written `name` into it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list((_root(env) / "runs").glob(f"*/{name}"))
        if found:
            return found[0].parent
        time.sleep(0.02)
    pytest.fail(f"no run wrote {name}")


def _kill(proc):
    proc.kill()
    proc.communicate(timeout=60)


def _complete_lines(journal):
    data = journal.read_bytes()
    return data[: data.rfind(b"\n") + 1]


def _journal(run_dir):
    path = run_dir / "tracking" / "journal.jsonl"
    return [json.loads(line) for line in _complete_lines(path).decode().splitlines()]


def _client(env):
    return MlflowClient(f"sqlite:///{_root(env) / 'mlflow' / 'mlflow.db'}")


def _tracked(env, run_dir):
    """Every MLflow run (deleted ones aside) tagged with this core run's id."""
    client = _client(env)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, filter_string=f"tags.`mlcore.run_id` = '{run_dir.name}'")


def _only_tracked(env, run_dir):
    runs = _tracked(env, run_dir)
    assert len(runs) == 1, [(r.info.run_id, r.info.status) for r in runs]
    return runs[0]


def _metric_points(env, mlflow_run, key="train_loss"):
    return sorted((m.step, m.value) for m in _client(env).get_metric_history(mlflow_run.info.run_id, key))


# -- 1. repair's in-place rewrite of the journal -------------------------------------------------


def test_repair_killed_while_trimming_a_torn_line_keeps_every_record(mlflow_env, tmp_path):
    """`core runs repair` killed while it trims a torn journal line loses no complete record."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_steps\ndata_spec: {steps: 4000, pause_after: 3000}\n")
    proc = _start(mlflow_env, spec, "--offline")
    run_dir = _wait_for(mlflow_env, "paused")
    _kill(proc)
    journal = run_dir / "tracking" / "journal.jsonl"
    with open(journal, "ab") as fh:
        fh.write(b'{"seq":99999,"op":"met')  # what a kill mid-append leaves
    complete = _complete_lines(journal)
    limit = journal.stat().st_size // 2

    def killed_past_limit():  # the kernel kills a process writing past this size (SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    subprocess.run([sys.executable, "-m", "core", "runs", "repair"], env=mlflow_env, capture_output=True,
                   preexec_fn=killed_past_limit, timeout=120)
    assert _complete_lines(journal) == complete  # not one complete record lost, none rewritten

    repaired = run_cli(["runs", "repair"], mlflow_env)
    assert repaired.returncode == 0, repaired.stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "KILLED"
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "KILLED"
    assert [step for step, _ in _metric_points(mlflow_env, tracked)] == list(range(3000))


# -- 2. concurrent `core sync` / `repair` on one run, and creates that time out -----------------


def test_four_concurrent_syncs_of_one_run_make_one_mlflow_run(mlflow_env, tmp_path):
    """Four `core sync` at once on one offline run: one MLflow run, every metric once, all exit 0."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_steps\ndata_spec: {steps: 1500}\n")
    assert run_cli(["run", str(spec), "--offline"], mlflow_env).returncode == 0
    run_dir = next((_root(mlflow_env) / "runs").iterdir())
    syncs = [subprocess.Popen([sys.executable, "-m", "core", "sync"], env=mlflow_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for proc in syncs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "FINISHED"
    assert [step for step, _ in _metric_points(mlflow_env, tracked)] == list(range(1500))
    summary = read_summary(run_dir)
    assert summary["tracking"]["run_id"] == tracked.info.run_id and summary["tracking"]["pending"] == 0


@pytest.mark.parametrize("how", ["timed_out", "retried_by_the_client"])
def test_a_create_that_reached_the_server_twice_leaves_no_orphan(mlflow_env, tmp_path, monkeypatch, how):
    """A `runs/create` that reached the server but timed out (or was retried) leaves one MLflow run, no orphan."""
    from mlflow.tracking.client import MlflowClient as Client

    from core._sync import sync_run

    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_steps\ndata_spec: {steps: 50}\n")
    assert run_cli(["run", str(spec), "--offline"], mlflow_env).returncode == 0
    run_dir = next((_root(mlflow_env) / "runs").iterdir())
    real_create = Client.create_run

    def slow_proxy_create(self, *args, **kwargs):  # the server makes the run; the answer is lost
        real_create(self, *args, **kwargs)
        if how == "timed_out":
            raise TimeoutError("read timed out (runs/create took 7 s behind a proxy)")
        return real_create(self, *args, **kwargs)  # the client's retry lands too, and is answered

    monkeypatch.setattr(Client, "create_run", slow_proxy_create)
    first = sync_run(run_dir)
    monkeypatch.setattr(Client, "create_run", real_create)
    if how == "timed_out":
        assert first.error and "timed out" in first.error
        assert len(_tracked(mlflow_env, run_dir)) == 1  # made, though its creator never heard
        assert sync_run(run_dir).ok
    else:
        assert first.ok, first.error
    tracked = _only_tracked(mlflow_env, run_dir)  # the orphan is deleted, not left RUNNING
    assert tracked.info.status == "FINISHED"
    assert [step for step, _ in _metric_points(mlflow_env, tracked)] == list(range(50))
    assert read_summary(run_dir)["tracking"]["run_id"] == tracked.info.run_id
