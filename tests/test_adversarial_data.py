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
