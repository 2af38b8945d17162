"""A sweep's runs share one local tracking service (core/_sweep/tracking.py), with real processes: the
driver starts it before any worker runs, the parent run and every worker's run go through it (no worker
and not the driver imports MLflow), and every run is complete in MLflow, each metric point once. When the
service cannot be used, or is off, every run sends in-process at once, as a single run does. Every service
a test starts is stopped by its pid when the test ends (the `service_env` fixture)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import read_summary, run_cli, write_spec
from test_tracking_service import metric_points, root_of, run_status, store_rows
from test_tracking_service import service_env as service_env  # the fixture, with its stopping of services

from core._tracking.service_wire import SERVICE_DIR

pytest.importorskip("mlflow")


@pytest.fixture
def sweep_env(request):
    """`service_env`: the service on, every service the test started killed by pid at its end."""
    return request.getfixturevalue("service_env")

SWEEP = """plugin: ext_modules
data_spec: {steps: 3}
sweep:
  name: shared
  metric: train_loss
  grid:
    seed: [1, 2, 3, 4]
"""
RUNS = 4

#: `core sweep` in a process that says, at its end, whether it imported MLflow
_DRIVER = """
import json, sys
from core.cli import main
code = main(sys.argv[1:])
print(json.dumps({"exit_code": code, "mlflow": "mlflow" in sys.modules}), file=sys.stderr)
"""


def _sweep(env, tmp_path) -> tuple[dict, dict, str]:
    """The sweep's --json output, what its driver said of itself, and its stderr."""
    import subprocess

    spec = write_spec(tmp_path / "sweep.yaml", SWEEP)
    proc = subprocess.run([sys.executable, "-c", _DRIVER, "sweep", str(spec), "--executor", "process",
                           "--max-workers", "2", "--json"], env=env, capture_output=True, text=True, timeout=400)
    driver = json.loads(proc.stderr.strip().splitlines()[-1])
    assert driver["exit_code"] == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), driver, proc.stderr


def _complete_in_mlflow(root: Path, out: dict) -> list[dict]:
    """Every run FINISHED in its folder and in MLflow, with nothing pending and each metric point once,
    under the sweep's parent run, itself FINISHED with the sweep's totals; the runs' summaries, each with
    its `run_dir`."""
    assert [r["status"] for r in out["runs"]] == ["FINISHED"] * RUNS
    summaries = [dict(read_summary(Path(r["run_dir"])), run_dir=r["run_dir"]) for r in out["runs"]]
    parent = out["parent_run_id"]
    for summary in summaries:
        assert summary["status"] == "FINISHED"
        assert summary["tracking"]["pending"] == 0 and summary["tracking"]["backend"] == "mlflow"
        mlflow_id = summary["tracking"]["run_id"]
        assert run_status(root, mlflow_id) == "FINISHED"
        assert metric_points(root, mlflow_id, "train_loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
        assert store_rows(root, "SELECT value FROM params WHERE run_uuid = ? AND key = 'data.steps'",
                          mlflow_id) == [("3",)]
        assert store_rows(root, "SELECT value FROM tags WHERE run_uuid = ? AND key = 'mlflow.parentRunId'",
                          mlflow_id) == [(parent,)]
    assert run_status(root, parent) == "FINISHED"
    assert store_rows(root, "SELECT value FROM metrics WHERE run_uuid = ? AND key = 'sweep_finished'",
                      parent) == [(float(RUNS),)]
    return summaries


@pytest.mark.slow  # a sweep driver, a pool of worker processes and the service on the MLflow store
def test_a_sweeps_runs_and_its_parent_go_through_one_service(sweep_env, tmp_path):
    """Process executor, 4 runs on 2 workers: one service made the parent run and all 4 runs; neither the
    driver nor a worker imported MLflow, though each worker ran a whole run before its second."""
    root = root_of(sweep_env)
    out, driver, _ = _sweep(sweep_env, tmp_path)
    summaries = _complete_in_mlflow(root, out)
    assert not driver["mlflow"]  # the parent run went through the service too
    assert [s["outputs"]["mlflow_imported"] for s in summaries] == [False] * RUNS
    per_worker = Counter(s["outputs"]["pid"] for s in summaries)
    assert len(per_worker) <= 2 and max(per_worker.values()) >= 2  # a later run saw its worker's earlier one
    for summary in summaries:
        log = (Path(summary["run_dir"]) / "logs" / "run.log").read_text()
        assert "in-process" not in log and "tracking service" not in log
    status = run_cli(["tracking", "status", "--json"], sweep_env)
    assert status.returncode == 0, status.stderr
    [svc] = json.loads(status.stdout)["services"]  # one service: no worker started its own
    assert svc["state"] == "ready"
    assert svc["runs"] == RUNS + 1  # every run's start, and the parent's, went through it
    assert svc["calls"] >= 3 * RUNS + 3


@pytest.mark.slow  # as above, twice
@pytest.mark.parametrize("how", ["unusable", "off"])
def test_without_the_service_every_run_tracks_in_process(sweep_env, tmp_path, how):
    """The service cannot be used (a file where its folder would be) or is off: the sweep's runs send
    in-process at once (no run tries the service again), complete in MLflow as before; no service runs."""
    env = dict(sweep_env)
    root = root_of(env)
    if how == "off":
        env["CORE_TRACKING_SERVICE"] = "off"
    else:
        (root / SERVICE_DIR).write_text("not a folder")
    out, driver, err = _sweep(env, tmp_path)
    summaries = _complete_in_mlflow(root, out)
    assert driver["mlflow"]  # the parent run, in-process
    assert [s["outputs"]["mlflow_imported"] for s in summaries] == [True] * RUNS  # each worker opened MLflow
    for summary in summaries:
        assert "tracking service" not in (Path(summary["run_dir"]) / "logs" / "run.log").read_text()
    if how == "off":
        assert not (root / SERVICE_DIR).exists()
    else:
        assert err.count("sending in-process") == 1, err  # said once, by the driver
        assert (root / SERVICE_DIR).is_file()
