"""The real test bed of issue 16 (item 6): on 127.0.0.1 only, a PostgreSQL server, an `mlflow server`
on it serving artifacts (`--serve-artifacts`, its own artifacts folder), and a two-node Ray cluster
(`ray start --head` and a second node with its own CORE_ARTIFACT_ROOT and a custom resource). A sweep
from a folder no worker sees runs across both nodes with nothing shared but the server; then the
second node's raylet is killed mid-sweep. Everything is stopped by pid at the end.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, write_spec
from mlflow_server import MlflowServer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra"),
              pytest.mark.skipif(importlib.util.find_spec("mlflow.server") is None, reason="needs mlcore[ui]")]

STEPS = """plugin: ext_steps
seed: 1
data_spec: {steps: 3}
sweep:
  name: bed
  metric: train_loss
  grid:
    data_spec.steps: [2, 3, 4, 5]
"""
SLEEPY = """plugin: ext_sleep
seed: 3
data_spec: {seconds: 12}
sweep:
  name: lossy
  grid:
    data_spec.n: [1, 2]
"""


class _PgMlflowServer(MlflowServer):
    """`mlflow server` on PostgreSQL, proxying artifacts to its own folder."""

    def __init__(self, workdir: Path, backend_uri: str) -> None:
        super().__init__(workdir)
        self.backend_uri = backend_uri

    def start(self, timeout: float = 180) -> None:
        import urllib.request

        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "server.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend_uri, "--serve-artifacts",
             "--artifacts-destination", str(self.workdir / "artifacts"), "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", "1"],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.workdir / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("mlflow server did not become healthy")


@pytest.fixture(scope="module")
def bed(ext_site, tmp_path_factory):
    from pg_server import PostgresServer, why_not
    from ray_cluster import RayCluster

    reason = why_not()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("bed")
    pg = PostgresServer()
    server = None
    cluster = RayCluster()
    try:
        pg.start()
        server = _PgMlflowServer(base / "mlflow", pg.uri)
        server.start()
        common = {"PYTHONPATH": str(ext_site), "MLFLOW_DISABLE_TELEMETRY": "true"}
        cluster.start_head(num_cpus=1, env={**common, "CORE_ARTIFACT_ROOT": str(base / "head_root")})
        cluster.add_node(num_cpus=1, resources={"node2": 1},
                         env={**common, "CORE_ARTIFACT_ROOT": str(base / "node2_root")})
        assert cluster.listening_addresses() <= {"127.0.0.1", "[::ffff:127.0.0.1]"}, cluster.listening_addresses()
        yield {"pg": pg, "server": server, "cluster": cluster, "head_root": base / "head_root",
               "node2_root": base / "node2_root", "base": base}
    finally:
        cluster.stop()
        if server is not None:
            server.stop()
        pg.stop()


def _driver_env(cli_env: dict[str, str], bed: dict) -> dict[str, str]:
    from ray_cluster import RAY_ENV

    env = {**cli_env, **RAY_ENV, "CORE_PROGRESS": "0", "CORE_TRACKING_URI": bed["server"].uri}
    env.pop("RAY_ADDRESS", None)
    return env


def _client(bed: dict):
    from mlflow import MlflowClient

    return MlflowClient(bed["server"].uri)


def _ids(root: Path) -> set[str]:
    return {p.name for p in (root / "runs").glob("*")} if (root / "runs").is_dir() else set()


def test_a_sweep_across_two_nodes_shares_nothing_but_the_server(cli_env, bed, tmp_path):
    env = _driver_env(cli_env, bed)
    elsewhere = tmp_path / "driver_cwd"  # a folder no worker can see
    elsewhere.mkdir()
    spec = write_spec(elsewhere / "s.yaml", STEPS)
    proc = run_cli(["sweep", str(spec), "--executor", "ray", "--ray-address", bed["cluster"].address,
                    "--tracking-uri", bed["server"].uri, "--max-workers", "2", "--json"], env, cwd=elsewhere,
                   timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    ids = {r["run_id"] for r in out["runs"]}
    assert [r["status"] for r in out["runs"]] == ["FINISHED"] * 4 and len(ids) == 4
    driver_root = Path(env["CORE_ARTIFACT_ROOT"])
    assert not (driver_root / "runs").exists()  # no worker wrote under the driver's root
    on_head, on_node2 = _ids(bed["head_root"]) & ids, _ids(bed["node2_root"]) & ids
    assert on_head and on_node2 and on_head | on_node2 == ids, (on_head, on_node2)  # both nodes worked
    client = _client(bed)
    for row in out["runs"]:
        run = client.search_runs([client.get_run(out["parent_run_id"]).info.experiment_id],
                                 filter_string=f"tags.`mlcore.run_id` = '{row['run_id']}'")[0]
        assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == out["parent_run_id"]
        files = {f.path for top in ("summary", "logs", "tracking", "reports") for f in
                 client.list_artifacts(run.info.run_id, top)}
        assert {"summary/run_summary.json", "logs/run.log", "tracking/journal.jsonl",
                "reports/report.html"} <= files, files
        assert "tracking/run.lock" not in files
    # The driver's view: the table, runs list, and a node2 run fetched from the server.
    listed = json.loads(run_cli(["runs", "list", "--json"], env).stdout)
    assert ids <= {r["run_id"] for r in listed}
    remote = sorted(on_node2)[0]
    fetched = run_cli(["runs", "fetch", remote, "--tracking-uri", bed["server"].uri], env)
    assert fetched.returncode == 0, fetched.stderr
    local = driver_root / "runs" / remote
    assert (local / "summary" / "run_summary.json").is_file() and (local / "logs" / "run.log").is_file()
    shown = run_cli(["runs", "show", remote], env)
    assert shown.returncode == 0 and "FINISHED" in shown.stdout, shown.stderr


def test_the_second_node_lost_mid_sweep_fails_its_run_as_node_lost_and_retries_it(cli_env, bed, tmp_path):
    """Kill node2's raylet while it runs a run: that run is FAILED in MLflow (mlcore.failure=node_lost),
    its metrics kept; the config runs again, on the head, as a new run tagged mlcore.retry_of."""
    env = _driver_env(cli_env, bed)
    spec = write_spec(tmp_path / "s.yaml", SLEEPY)
    before = _ids(bed["node2_root"])
    proc = subprocess.Popen([sys.executable, "-m", "core", "sweep", str(spec), "--executor", "ray", "--ray-address",
                             bed["cluster"].address, "--max-workers", "2", "--retries", "1", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    ready: list[Path] = []
    while time.monotonic() < deadline and not ready and proc.poll() is None:
        ready = [p for p in (bed["node2_root"] / "runs").glob("*/ready") if p.parent.name not in before]
        time.sleep(0.2)
    assert ready, f"no run started on node2: {proc.poll()}"
    lost_id = ready[0].parent.name
    os.kill(bed["cluster"].nodes[1].raylet_pid(), signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-4000:]
    assert out.strip().startswith("{"), out[:3000]
    result = json.loads(out)
    assert [r["status"] for r in result["runs"]] == ["FINISHED", "FINISHED"], err[-3000:]
    retried = [r for r in result["runs"] if r.get("retry_of")]
    assert len(retried) == 1 and retried[0]["retry_of"] == [lost_id], result["runs"]
    assert f"run {lost_id}: node lost" in err and "retrying as run" in err, err[-3000:]
    client = _client(bed)
    exp = client.get_run(result["parent_run_id"]).info.experiment_id
    lost = client.search_runs([exp], filter_string=f"tags.`mlcore.run_id` = '{lost_id}'")[0]
    assert lost.info.status == "FAILED" and lost.data.tags["mlcore.failure"] == "node_lost"
    assert "node lost" in lost.data.tags["mlcore.failure_reason"]
    assert [m.value for m in client.get_metric_history(lost.info.run_id, "train_loss")] == [1.0, 0.5, 1 / 3]
    again = client.search_runs([exp], filter_string=f"tags.`mlcore.run_id` = '{retried[0]['run_id']}'")[0]
    assert again.info.status == "FINISHED" and again.data.tags["mlcore.retry_of"] == lost_id
    assert again.data.tags["seed"] == lost.data.tags["seed"] == "3"
    assert retried[0]["run_id"] in _ids(bed["head_root"])  # it ran on the head, the node that was left
