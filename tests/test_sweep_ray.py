"""`core sweep --executor ray` on a machine where another Ray runs, on an existing cluster (RAY_ADDRESS
or --ray-address), with runs in flight capped, Ctrl-C, and a cluster that cannot be reached or refuses
the token (issue 16 item 8, issue 21 item 1).

Every Ray process these tests start listens on 127.0.0.1 only (`ray_cluster`); a sweep with no
address starts a private local Ray (`address="local"`), never the machine's other Ray.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import run_cli, write_spec
from mlflow_server import free_port

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra")

STEPS = """plugin: ext_steps
seed: 1
data_spec: {{steps: 3}}
sweep:
  name: {name}
  metric: train_loss
  grid:
    data_spec.steps: [2, 3, 4]
"""
SLEEPY = ("plugin: ext_sleep\ndata_spec: {seconds: 120}\n"
          "sweep:\n  name: sleepy\n  grid: {data_spec.n: [1, 2, 3, 4]}\n")


def _env(cli_env: dict[str, str], **extra: str) -> dict[str, str]:
    from ray_cluster import RAY_ENV

    env = {**cli_env, **RAY_ENV, "CORE_PROGRESS": "0", **extra}
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def cluster(ext_site, tmp_path_factory):
    """A one-node Ray 'already running' on the machine: 2 CPUs, its own CORE_ARTIFACT_ROOT."""
    from ray_cluster import RayCluster, node_pythonpath

    root = tmp_path_factory.mktemp("head_root")
    ray = RayCluster()
    try:
        ray.start_head(num_cpus=2, env={"CORE_ARTIFACT_ROOT": str(root), "PYTHONPATH": node_pythonpath(ext_site),
                                        "CORE_TRACKING_URI": "memory"})
        ray.root = root
        yield ray
    finally:
        ray.stop()


def _summaries(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("runs/*/summary/run_summary.json"))]


@pytest.mark.slow
def test_without_an_address_a_private_local_ray_even_when_another_runs(cli_env, cluster, tmp_path):
    """The other Ray is not joined (joining it with num_cpus was a ValueError): runs go to a Ray of
    this sweep's own, which shares this machine's disk, so they are under the driver's root."""
    env = _env(cli_env)
    proc = run_cli(["sweep", str(write_spec(tmp_path / "s.yaml", STEPS.format(name="private"))), "--executor", "ray",
                    "--max-workers", "2", "--json"], env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert [r["status"] for r in out["runs"]] == ["FINISHED"] * 3
    driver_root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    assert len(_summaries(driver_root)) == 3
    assert not list(cluster.root.glob("runs/*"))  # nothing ran on the other Ray


@pytest.mark.slow
def test_ray_address_from_the_environment_caps_runs_in_flight_and_keeps_folders_on_the_node(cli_env, cluster,
                                                                                              tmp_path):
    """RAY_ADDRESS is honoured; --max-workers 1 on a 2-CPU cluster runs one at a time; each run's folder
    is on the node (its CORE_ARTIFACT_ROOT), the driver keeps the summaries the tasks returned, and
    `core runs list/show` on the driver show those runs."""
    env = _env(cli_env, RAY_ADDRESS=cluster.address)
    proc = run_cli(["sweep", str(write_spec(tmp_path / "s.yaml", STEPS.format(name="capped"))), "--executor", "ray",
                    "--max-workers", "1", "--json"], env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert [r["status"] for r in out["runs"]] == ["FINISHED"] * 3
    driver_root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    assert not (driver_root / "runs").exists()  # no run folder under the driver's root
    on_node = [s for s in _summaries(cluster.root) if s["run_id"] in {r["run_id"] for r in out["runs"]}]
    assert len(on_node) == 3
    spans = sorted((datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["ended_at"])) for s in on_node)
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:])), spans  # never two at once
    held = sorted(p.parent.name for p in (driver_root / "sweeps").glob("capped-*/runs/*/summary.json"))
    assert held == sorted(r["run_id"] for r in out["runs"])
    listed = run_cli(["runs", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert {r["run_id"] for r in json.loads(listed.stdout)} == set(held)
    shown = run_cli(["runs", "show", held[0]], env)
    assert shown.returncode == 0 and "FINISHED" in shown.stdout, shown.stderr


@pytest.mark.slow
def test_ctrl_c_on_a_cluster_ends_every_running_run_killed(cli_env, cluster, tmp_path):
    """The driver waits for the runs it stopped: each ends KILLED with its record, and the driver has it."""
    env = _env(cli_env)
    spec = write_spec(tmp_path / "s.yaml", SLEEPY)
    before = set(cluster.root.glob("runs/*"))
    proc = subprocess.Popen([sys.executable, "-m", "core", "sweep", str(spec), "--executor", "ray", "--ray-address",
                             cluster.address, "--max-workers", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    ready: list[Path] = []
    while time.monotonic() < deadline and len(ready) < 2 and proc.poll() is None:
        ready = [p for p in cluster.root.glob("runs/*/ready") if p.parent not in before]
        time.sleep(0.2)
    assert len(ready) == 2, f"two runs never got going: {proc.poll()} {proc.stderr.read() if proc.poll() else ''}"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=150)
    assert proc.returncode == 130, err[-3000:]
    statuses = [json.loads((p.parent / "summary" / "run_summary.json").read_text())["status"] for p in ready]
    assert statuses == ["KILLED", "KILLED"], err[-2000:]
    results = json.loads(next((Path(cli_env["CORE_ARTIFACT_ROOT"]) / "sweeps").glob("sleepy-*/results.json"))
                         .read_text())
    assert sorted(r["status"] for r in results["runs"]) == ["KILLED", "KILLED", "NOT RUN", "NOT RUN"]


@pytest.mark.slow
def test_a_wrong_token_is_one_line_naming_the_address_and_what_to_set(cli_env, cluster, tmp_path):
    env = _env(cli_env, RAY_AUTH_TOKEN="0" * 64)
    started = time.monotonic()
    proc = run_cli(["sweep", str(write_spec(tmp_path / "s.yaml", STEPS.format(name="token"))), "--executor", "ray",
                    "--ray-address", cluster.address], env, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("core: error:")]
    assert len(lines) == 1 and cluster.address in lines[0] and "RAY_AUTH_TOKEN" in lines[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 90


def test_an_address_nothing_answers_on_is_one_line_within_seconds(mlflow_env, tmp_path):
    """Ray's own wait is minutes; the sweep says in seconds what to set, and leaves nothing RUNNING."""
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = run_cli(["sweep", str(write_spec(tmp_path / "s.yaml", STEPS.format(name="nowhere"))), "--executor",
                    "ray", "--ray-address", address], _env(mlflow_env), timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert time.monotonic() - started < 60
    error = [line for line in proc.stderr.splitlines() if line.startswith("core: error:")]
    assert len(error) == 1 and address in error[0] and "RAY_ADDRESS" in error[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (Path(mlflow_env["CORE_ARTIFACT_ROOT"]) / "sweeps").exists()  # no parent run, no sweep folder


_FAIL_BETWEEN_RUNS = textwrap.dedent("""
    import json, sys
    from core import load_sweep, run_sweep, SweepOptions
    from core._sweep import executors

    def boom(self, jobs):
        yield from ()
        raise RuntimeError("the executor broke between runs")

    executors.SequentialExecutor.submit_all = boom
    try:
        run_sweep(load_sweep(sys.argv[1]), SweepOptions(executor="sequential"))
    except RuntimeError as exc:
        print("raised", exc)
""")


def test_a_sweep_that_fails_between_runs_ends_its_parent_run_failed_with_the_reason(mlflow_env, tmp_path):
    from mlflow import MlflowClient

    spec = write_spec(tmp_path / "s.yaml", STEPS.format(name="broken"))
    proc = subprocess.run([sys.executable, "-c", _FAIL_BETWEEN_RUNS, str(spec)], env=mlflow_env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert "raised the executor broke between runs" in proc.stdout, proc.stderr[-3000:]
    root = Path(mlflow_env["CORE_ARTIFACT_ROOT"])
    state = json.loads(next((root / "sweeps").glob("broken-*/state.json")).read_text())
    client = MlflowClient(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    parent = client.get_run(state["parent_run_id"])
    assert parent.info.status == "FAILED"
    assert "the executor broke between runs" in parent.data.tags["mlcore.failure"]


def test_bad_ray_options_are_bad_input(cli_env, tmp_path):
    spec = write_spec(tmp_path / "s.yaml", STEPS.format(name="opts") + "  ray: {num_gpus: -1}\n")
    proc = run_cli(["sweep", str(spec), "--dry-run"], cli_env)
    assert proc.returncode == 2 and "sweep.ray.num_gpus" in proc.stderr, proc.stderr
    proc = run_cli(["sweep", str(write_spec(tmp_path / "t.yaml", STEPS.format(name="opts"))), "--executor", "ray",
                    "--max-workers", "0"], cli_env)
    assert proc.returncode == 2 and "--max-workers" in proc.stderr, proc.stderr


def test_what_a_lost_task_says():
    """Ray's errors for a lost worker or node are node loss (retried); a module missing on a node names
    the node and the distribution; anything else is reported as it is."""
    from core._sweep.ray_executor import RayOptions, lost_result
    from core._sweep.worker import SweepJob

    job = SweepJob(0, "k", {"plugin": "x"}, None, "memory", run_id="r1")

    class NodeDiedError(Exception):
        pass

    class RayTaskError(Exception):
        ip = "10.0.0.7"

    lost = lost_result(job, NodeDiedError("the node running this task died"))
    assert lost.node_lost and "node lost (NodeDiedError)" in lost.error
    missing = lost_result(job, RayTaskError("ModuleNotFoundError: No module named 'core'"))
    assert not missing.node_lost and missing.status.value == "FAILED"
    assert "node 10.0.0.7" in missing.error and "mlcore is not installed there" in missing.error
    plugin = lost_result(job, RayTaskError("No module named 'sklearn'"))
    assert "the module 'sklearn' is not installed there" in plugin.error
    options = RayOptions(num_cpus=2, num_gpus=0.5, resources={"node2": 1}, runtime_env={"env_vars": {"A": "1"}})
    assert options.task_options() == {"num_cpus": 2, "max_retries": 0, "num_gpus": 0.5, "resources": {"node2": 1},
                                      "runtime_env": {"env_vars": {"A": "1"}}}


def test_the_sweep_file_ray_section_and_the_options_merge(tmp_path):
    import argparse

    from core._commands.sweep_cmd import _ray_options
    from core._sweep.plan import load_sweep

    text = STEPS.format(name="opts") + "  ray: {num_cpus: 2, resources: {big: 1}}\n"
    plan = load_sweep(write_spec(tmp_path / "s.yaml", text))
    assert plan.ray == {"num_cpus": 2.0, "resources": {"big": 1.0}}
    env_file = write_spec(tmp_path / "env.yaml", "env_vars: {MLCORE_X: '1'}\n")
    args = argparse.Namespace(ray_num_cpus=None, ray_num_gpus=1.0, ray_resource=["gpu_node=1"],
                              ray_runtime_env=str(env_file))
    options = _ray_options(args, plan.ray)
    assert (options.num_cpus, options.num_gpus, options.resources) == (2.0, 1.0, {"gpu_node": 1.0})
    assert options.runtime_env == {"env_vars": {"MLCORE_X": "1"}}


@pytest.mark.slow
def test_retry_failed_reruns_a_failing_config_as_a_new_run(cli_env, tmp_path):
    text = STEPS.format(name="flaky").replace("[2, 3, 4]", "[2, oops]")
    proc = run_cli(["sweep", str(write_spec(tmp_path / "s.yaml", text)), "--executor", "ray", "--max-workers", "2",
                    "--retry-failed", "1", "--json"], _env(cli_env), timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = {r["overrides"]["data_spec.steps"]: r for r in json.loads(proc.stdout)["runs"]}
    assert rows[2]["status"] == "FINISHED" and rows["oops"]["status"] == "FAILED"
    assert len(rows["oops"]["retry_of"]) == 1 and "retrying as run" in proc.stderr
    runs = [json.loads(p.read_text()) for p in (Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs").glob(
        "*/summary/run_summary.json")]
    failed = [r for r in runs if r["status"] == "FAILED"]
    assert len(failed) == 2 and {r["spec"]["seed"] for r in failed} == {1}
    assert any(r["tags"].get("mlcore.retry_of") == rows["oops"]["retry_of"][0] for r in failed)


@pytest.mark.slow
def test_ray_runtime_env_reaches_the_tasks_and_a_node_without_the_plugin_names_its_distribution(cli_env, cluster,
                                                                                               tmp_path):
    """`--ray-runtime-env FILE` goes through to the tasks: its env_vars set the node's run folder root
    (CORE_ARTIFACT_ROOT) for this sweep's runs only; a runtime_env whose PYTHONPATH lacks the plugin's
    package is a node without the plugin: the run FAILS with one line naming the node and the
    distribution, no traceback."""
    from core._sweep.worker import NODE

    env = _env(cli_env)
    spec = write_spec(tmp_path / "s.yaml", STEPS.format(name="rtenv"))
    elsewhere = tmp_path / "rt_root"
    env_file = write_spec(tmp_path / "env.yaml", f"env_vars: {{CORE_ARTIFACT_ROOT: '{elsewhere}'}}\n")
    proc = run_cli(["sweep", str(spec), "--executor", "ray", "--ray-address", cluster.address, "--max-workers", "2",
                    "--ray-runtime-env", str(env_file), "--json"], env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = {r["run_id"] for r in json.loads(proc.stdout)["runs"]}
    assert len(ids) == 3 and {p.name for p in (elsewhere / "runs").iterdir()} == ids
    assert not ids & {p.name for p in cluster.root.glob("runs/*")}

    repo = Path(__file__).resolve().parent.parent  # mlcore importable, the plugin package not
    bare = write_spec(tmp_path / "bare.yaml", f"env_vars: {{PYTHONPATH: '{repo}'}}\n")
    proc = run_cli(["sweep", str(spec), "--executor", "ray", "--ray-address", cluster.address, "--max-workers", "2",
                    "--ray-runtime-env", str(bare), "--json"], env, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)["runs"]
    assert [r["status"] for r in rows] == ["FAILED"] * 3
    error = rows[0]["error"]
    assert error.startswith(f"PluginNotFound on node {NODE}: plugin 'ext_steps' is not installed there"), error
    assert "mlcore-ext-pkg 0.3.0" in error and "\n" not in error
    assert "Traceback" not in proc.stderr and "pickl" not in proc.stderr.lower()
