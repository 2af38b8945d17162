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

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend_uri, "--serve-artifacts",
                "--artifacts-destination", str(self.workdir / "artifacts"), "--host", "127.0.0.1", "--port",
                str(self.port), "--workers", "1"]


@pytest.fixture(scope="module")
def bed(ext_site, tmp_path_factory):
    from pg_server import PostgresServer, why_not
    from ray_cluster import RayCluster, node_pythonpath

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
        common = {"PYTHONPATH": node_pythonpath(ext_site), "MLFLOW_DISABLE_TELEMETRY": "true"}
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
    other = sorted(on_head)[0]  # `runs show` says where its folder is, and --fetch brings it on demand
    shown = run_cli(["runs", "show", other], env)
    assert shown.returncode == 0 and "FINISHED" in shown.stdout, shown.stderr
    assert "only its summary is here" in shown.stdout and f"core runs show {other} --fetch" in shown.stdout
    shown = run_cli(["runs", "show", other, "--fetch"], env)
    assert shown.returncode == 0 and "files fetched into" in shown.stderr, shown.stderr
    assert "reports/report.html" in shown.stdout and (driver_root / "runs" / other / "logs" / "run.log").is_file()
    fetched = run_cli(["runs", "fetch", remote, "--tracking-uri", bed["server"].uri], env)
    assert fetched.returncode == 0, fetched.stderr
    local = driver_root / "runs" / remote
    assert (local / "summary" / "run_summary.json").is_file() and (local / "logs" / "run.log").is_file()
    shown = run_cli(["runs", "show", remote], env)
    assert shown.returncode == 0 and "FINISHED" in shown.stdout, shown.stderr


PAUSING = """plugin: ext_steps
seed: 5
data_spec: {steps: 4, pause_after: 1}
sweep:
  name: outage
  grid:
    data_spec.steps: [3, 4]
"""


def _new(paths: list[Path], pattern: str, before: set[str]) -> list[Path]:
    return [p for root in paths for p in (root / "runs").glob(pattern) if p.parent.name not in before]


def test_a_server_down_mid_sweep_leaves_calls_pending_on_the_nodes_and_core_sync_there_sends_them(
        cli_env, bed, tmp_path):
    """The mlflow server stops while both nodes' runs are mid-way: the runs finish, their calls wait in
    their journals on their nodes; the table and the closing line say how many and where, with the
    `core sync` to run there. With the server back, `core sync` on each node sends the calls and the
    run folder the node kept, and MLflow has every metric point."""
    env = _driver_env(cli_env, bed)
    roots = [bed["head_root"], bed["node2_root"]]
    before = _ids(roots[0]) | _ids(roots[1])
    spec = write_spec(tmp_path / "s.yaml", PAUSING)
    proc = subprocess.Popen([sys.executable, "-m", "core", "sweep", str(spec), "--executor", "ray", "--ray-address",
                             bed["cluster"].address, "--max-workers", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    server = bed["server"]
    try:
        deadline = time.monotonic() + 240
        paused: list[Path] = []
        while time.monotonic() < deadline and len(paused) < 2 and proc.poll() is None:
            paused = _new(roots, "*/paused", before)
            time.sleep(0.2)
        assert len(paused) == 2, f"the runs never paused: {proc.poll()} {proc.stderr.read() if proc.poll() else ''}"
        server.stop()
        for path in paused:
            (path.parent / "resume").write_text("")
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if server.proc is None or server.proc.poll() is not None:
            server.start()
    assert proc.returncode == 0, err[-4000:]  # the runs finished; only tracking lags
    ids = sorted(p.parent.name for p in paused)
    assert all(f"tracking calls pending on {worker_node()}" in line for line in out.splitlines() if
               line.startswith("ok ")), out
    assert "pending" in next(line for line in out.splitlines() if line.startswith("rank")), out
    assert "2 run(s) have" in err and "tracking calls not in MLflow yet" in err, err[-3000:]
    for root in roots:
        mine = sorted(i for i in ids if (root / "runs" / i).is_dir())
        if not mine:
            continue
        assert f"on {worker_node()}: CORE_ARTIFACT_ROOT={root} core sync {' '.join(mine)}" in err, err[-3000:]
        assert all((root / "runs" / i / "tracking" / "send_folder").is_file() for i in mine)
    # The server is back (the finally above): `core sync` on each node, with the node's root.
    for root in roots:
        synced = run_cli(["sync", "--artifact-root", str(root)], env, timeout=200)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "its whole run folder" in synced.stdout, synced.stdout
    client = _client(bed)
    for run_id in ids:
        folder = next(root / "runs" / run_id for root in roots if (root / "runs" / run_id).is_dir())
        summary = json.loads((folder / "summary" / "run_summary.json").read_text())
        assert summary["tracking"]["pending"] == 0 and not (folder / "tracking" / "send_folder").exists()
        run = client.get_run(summary["tracking"]["run_id"])
        steps = summary["spec"]["data_spec"]["steps"]
        assert run.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == list(range(steps))
        assert "summary/run_summary.json" in {f.path for f in client.list_artifacts(run.info.run_id, "summary")}


def worker_node() -> str:
    import socket

    return socket.gethostname()


CRASHING = """plugin: ext_sleep
seed: 9
data_spec: {{seconds: 600, until: {release}}}
sweep:
  name: crash
  grid:
    data_spec.seconds: [0, 600, 601]
"""


def test_resume_after_the_driver_is_killed_reruns_only_what_did_not_finish(cli_env, bed, tmp_path):
    """SIGKILL the driver while two runs are in flight on the nodes and one has finished. `--resume`
    then asks MLflow: the two left RUNNING are ended KILLED (mlcore.failure=driver_lost, their metrics
    kept) and run again as new runs tagged mlcore.retry_of; the finished one is not run again, even when
    its result never reached the driver (its summary in the sweep's folder is removed to make it so:
    the driver then knows of it only through its FINISHED MLflow run, found by its tags)."""
    env = _driver_env(cli_env, bed)
    roots = [bed["head_root"], bed["node2_root"]]
    before = _ids(roots[0]) | _ids(roots[1])
    release = tmp_path / "release"
    spec = write_spec(tmp_path / "s.yaml", CRASHING.format(release=release))
    driver_root = Path(env["CORE_ARTIFACT_ROOT"])
    proc = subprocess.Popen([sys.executable, "-m", "core", "sweep", str(spec), "--executor", "ray", "--ray-address",
                             bed["cluster"].address, "--max-workers", "2"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        held: list[Path] = []
        ready: list[Path] = []
        while time.monotonic() < deadline and (len(held) < 1 or len(ready) < 3) and proc.poll() is None:
            held = list((driver_root / "sweeps").glob("crash-*/runs/*/summary.json"))
            ready = _new(roots, "*/ready", before)
            time.sleep(0.2)
        assert len(held) == 1 and len(ready) == 3, f"{proc.poll()} {proc.stderr.read() if proc.poll() else ''}"
        proc.kill()  # SIGKILL: the driver ends nothing, writes no results.json
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    finished_id = held[0].parent.name
    waiting = {p.parent.name: int(p.read_text()) for p in ready if p.parent.name != finished_id}
    assert len(waiting) == 2
    deadline = time.monotonic() + 90  # Ray ends the tasks of a driver that is gone
    while time.monotonic() < deadline and any(_alive(pid) for pid in waiting.values()):
        time.sleep(0.5)
    assert not any(_alive(pid) for pid in waiting.values()), "the dead driver's tasks still run"
    sweep_dir = held[0].parent.parent.parent
    assert not (sweep_dir / "results.json").exists()
    held[0].unlink()  # its result "never reached" the driver
    release.write_text("")  # the runs of the resume need not wait
    proc = run_cli(["sweep", str(spec), "--executor", "ray", "--ray-address", bed["cluster"].address,
                    "--max-workers", "2", "--resume", sweep_dir.name, "--json"], env, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = {r["index"]: r for r in json.loads(proc.stdout)["runs"]}
    assert rows[0]["run_id"] == finished_id and rows[0]["status"] == "FINISHED" and rows[0].get("resumed"), rows
    assert "1 run(s) FINISHED in MLflow though their results never reached the driver" in proc.stderr
    assert "2 run(s) left RUNNING by the driver that died ended KILLED" in proc.stderr, proc.stderr[-3000:]
    assert {rows[1]["status"], rows[2]["status"]} == {"FINISHED"}
    assert {rows[1]["retry_of"][0], rows[2]["retry_of"][0]} == set(waiting), rows
    assert held[0].is_file()  # brought back from the run's artifacts on the server
    client = _client(bed)
    exp = client.get_run(json.loads(proc.stdout)["parent_run_id"]).info.experiment_id
    for killed in waiting:
        run = client.search_runs([exp], filter_string=f"tags.`mlcore.run_id` = '{killed}'")[0]
        assert run.info.status == "KILLED" and run.data.tags["mlcore.failure"] == "driver_lost"
        assert [m.value for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1.0, 0.5, 1 / 3]
    for index in (1, 2):
        again = client.search_runs([exp], filter_string=f"tags.`mlcore.run_id` = '{rows[index]['run_id']}'")[0]
        assert again.info.status == "FINISHED" and again.data.tags["mlcore.retry_of"] == rows[index]["retry_of"][0]
    first = client.search_runs([exp], filter_string=f"tags.`mlcore.sweep_id` = '{sweep_dir.name}' and "
                                                    "tags.`mlcore.sweep_index` = '0'")
    assert [r.data.tags["mlcore.run_id"] for r in first] == [finished_id]  # never run twice
    parent = client.get_run(json.loads(proc.stdout)["parent_run_id"])
    assert parent.info.status == "FINISHED"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Last: it kills the second node, which the tests above use.
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
