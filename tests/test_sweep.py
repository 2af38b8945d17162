"""`core sweep`: expansion, failures isolated and visible, parent/child runs, resume, Ctrl-C, Ray."""

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

from core._errors import SpecError
from core._sweep.plan import load_sweep

STEPS = """plugin: ext_steps
seed: 1
data_spec: {{steps: 3}}
sweep:
  name: steps
  metric: train_loss
{body}
"""
FAILING = STEPS.format(body="  grid:\n    data_spec.steps: [2, oops, 4]\n")


def _sweep(path, text):
    return write_spec(path, text)


def test_grid_and_random_expand_deterministically(tmp_path):
    text = STEPS.format(body="""  seed: 5
  grid:
    data_spec.steps: [2, 3]
    tags.team: [a, b]
  random:
    count: 3
    params:
      data_spec.lr: {log_uniform: [1.0e-4, 1.0e-1]}
      data_spec.depth: {int: [1, 9]}
      data_spec.kind: {choice: [x, y]}
      data_spec.frac: {uniform: [0.5, 1.0]}
""")
    plan = load_sweep(_sweep(tmp_path / "s.yaml", text))
    assert len(plan.runs) == 2 * 2 * 3
    assert [r.overrides["data_spec.steps"] for r in plan.runs[:3]] == [2, 2, 2]
    first = plan.runs[0]
    assert first.spec.data_spec["steps"] == 2 and first.spec.tags["team"] == "a" and first.spec.name == "steps-000"
    for run in plan.runs:
        o = run.overrides
        assert 1e-4 <= o["data_spec.lr"] <= 1e-1 and 1 <= o["data_spec.depth"] <= 9 and isinstance(o["data_spec.depth"], int)
        assert o["data_spec.kind"] in ("x", "y") and 0.5 <= o["data_spec.frac"] <= 1.0
    again = load_sweep(tmp_path / "s.yaml")
    assert [r.overrides for r in again.runs] == [r.overrides for r in plan.runs]
    assert len({r.key for r in plan.runs}) == len(plan.runs)
    other = load_sweep(_sweep(tmp_path / "t.yaml", text.replace("seed: 5", "seed: 6")))
    assert [r.overrides for r in other.runs] != [r.overrides for r in plan.runs]


@pytest.mark.parametrize("body, field", [
    ("", "sweep"),
    ("  grid:\n    data_spec.steps: 3\n", "sweep.grid.data_spec.steps"),
    ("  grid:\n    data_spec.steps: []\n", "sweep.grid.data_spec.steps"),
    ("  grid:\n    datta_spec.steps: [1]\n", "datta_spec"),
    ("  random: {count: 0, params: {data_spec.x: {int: [1, 2]}}}\n", "sweep.random.count"),
    ("  random: {count: 2, params: {data_spec.x: {normal: [0, 1]}}}\n", "sweep.random.params.data_spec.x"),
    ("  random: {count: 2, params: {data_spec.x: {log_uniform: [0, 1]}}}\n", "sweep.random.params.data_spec.x"),
    ("  random: {count: 2, params: {data_spec.x: {int: [5, 1]}}}\n", "sweep.random.params.data_spec.x"),
    ("  grid: {data_spec.steps: [1]}\n  mode: best\n", "sweep.mode"),
    ("  grid: {data_spec.steps: [1]}\n  workers: 3\n", "sweep.workers"),
])
def test_bad_sweep_files_name_the_field(tmp_path, body, field):
    text = STEPS.format(body=body) if body else "plugin: ext_steps\nsweep: {name: x}\n"
    with pytest.raises(SpecError) as info:
        load_sweep(_sweep(tmp_path / "bad.yaml", text))
    assert field in str(info.value) and "bad.yaml" in str(info.value)


def test_dry_run_lists_and_validates(cli_env, tmp_path):
    proc = run_cli(["sweep", str(_sweep(tmp_path / "s.yaml", FAILING)), "--dry-run"], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "3 runs of plugin 'ext_steps'" in proc.stdout and "data_spec.steps=oops" in proc.stdout
    assert not (Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs").exists()
    bad = run_cli(["sweep", str(_sweep(tmp_path / "b.yaml", FAILING.replace("ext_steps", "nope"))), "--dry-run"],
                  cli_env)
    assert bad.returncode == 2 and "nope" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("executor", ["sequential", "process"])
def test_one_failing_config_does_not_stop_the_others(cli_env, tmp_path, executor):
    proc = run_cli(["sweep", str(_sweep(tmp_path / "s.yaml", FAILING)), "--executor", executor,
                    "--max-workers", "2"], cli_env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    failed_line = next(line for line in proc.stderr.splitlines() if line.startswith("FAILED"))
    assert "ValueError" in failed_line and "steps=oops" in failed_line  # its run id and first error line, at once
    root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    results = json.loads(next((root / "sweeps").glob("steps-*/results.json")).read_text())
    by_steps = {r["overrides"]["data_spec.steps"]: r for r in results["runs"]}
    assert by_steps[2]["status"] == by_steps[4]["status"] == "FINISHED" and by_steps["oops"]["status"] == "FAILED"
    assert by_steps[4]["rank"] == 1 and by_steps[2]["rank"] == 2 and by_steps["oops"]["rank"] is None  # min loss
    assert failed_line.split()[3] == by_steps["oops"]["run_id"] + ":"
    csv_text = next((root / "sweeps").glob("steps-*/results.csv")).read_text()
    assert csv_text.splitlines()[0].startswith("rank,index,run_id,status,data_spec.steps,train_loss")
    assert "FAILED" in proc.stdout  # the table


@pytest.mark.slow  # three sweeps, each a driver and a pool of worker processes on the MLflow store
def test_parent_and_children_in_mlflow_then_resume_runs_only_what_is_missing(mlflow_env, tmp_path):
    from mlflow import MlflowClient

    spec = _sweep(tmp_path / "s.yaml", FAILING)
    out = json.loads(run_cli(["sweep", str(spec), "--json", "--max-workers", "2"], mlflow_env, timeout=300).stdout)
    assert out["exit_code"] == 1
    summary = json.loads((Path(out["runs"][0]["run_dir"]) / "summary" / "run_summary.json").read_text())
    client = MlflowClient(summary["tracking"]["uri"])
    parent = client.get_run(out["parent_run_id"])
    assert parent.data.tags["mlcore.sweep_id"] == out["sweep_id"] and parent.info.status == "FAILED"
    assert parent.data.metrics["sweep_finished"] == 2 and parent.data.metrics["best_train_loss"] == 0.25
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "sweep")} >= {"sweep/results.csv",
                                                                                     "sweep/results.json"}
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(c.info.status for c in children) == ["FAILED", "FINISHED", "FINISHED"]

    runs_before = len(list((Path(mlflow_env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir()))
    proc = run_cli(["sweep", str(spec), "--resume", "--max-workers", "2"], mlflow_env, timeout=300)
    assert proc.returncode == 1 and "2 of 3 runs already FINISHED, running 1" in proc.stdout
    assert len(list((Path(mlflow_env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir())) == runs_before + 1
    assert proc.stdout.count("(earlier)") == 2
    fixed = _sweep(tmp_path / "s.yaml", FAILING.replace("oops", "3"))  # a changed config is a new run
    proc = run_cli(["sweep", str(fixed), "--resume", out["sweep_id"]], mlflow_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(list((Path(mlflow_env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir())) == runs_before + 2
    # nothing left to run: answered from the sweep's files, no executor started, the parent run untouched
    points = len(client.get_metric_history(out["parent_run_id"], "sweep_finished"))
    again = run_cli(["sweep", str(fixed), "--resume", out["sweep_id"], "--json"], mlflow_env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["startup_s"] == 0.0 and "nothing left to run" in again.stderr
    assert json.loads(again.stdout)["parent_run_id"] == out["parent_run_id"]
    assert len(client.get_metric_history(out["parent_run_id"], "sweep_finished")) == points
    assert len(list((Path(mlflow_env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir())) == runs_before + 2


def test_ctrl_c_stops_the_sweep_and_leaves_no_run_running(cli_env, tmp_path):
    spec = _sweep(tmp_path / "s.yaml", "plugin: ext_sleep\ndata_spec: {seconds: 120}\n"
                                       "sweep:\n  name: sleepy\n  grid: {data_spec.n: [1, 2, 3, 4]}\n")
    env = dict(cli_env, CORE_PROGRESS="0")
    proc = subprocess.Popen([sys.executable, "-m", "core", "sweep", str(spec), "--max-workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs"
    deadline = time.monotonic() + 120
    while len(list(runs.glob("*/ready"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(runs.glob("*/ready"))) == 2, "two runs never got going"
    proc.send_signal(signal.SIGINT)  # the driver only: it must stop its workers itself
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    statuses = [json.loads((d / "summary" / "run_summary.json").read_text())["status"] for d in runs.iterdir()]
    assert statuses == ["KILLED", "KILLED"]
    results = json.loads(next((runs.parent / "sweeps").glob("sleepy-*/results.json")).read_text())
    assert sorted(r["status"] for r in results["runs"]) == ["KILLED", "KILLED", "NOT RUN", "NOT RUN"]
    assert results["interrupted"] == "SIGINT" and "resume with --resume sleepy-" in err
    page = next((runs.parent / "sweeps").glob("sleepy-*/report.html")).read_text()  # the page, interrupted too
    assert "stopped by SIGINT" in page and page.count("never started: the sweep was stopped") == 2


def test_remote_ray_with_a_local_store_is_refused(mlflow_env, tmp_path):
    proc = run_cli(["sweep", str(_sweep(tmp_path / "s.yaml", FAILING)), "--executor", "ray",
                    "--ray-address", "ray://10.1.2.3:10001"], mlflow_env)
    assert proc.returncode == 2 and "local to this machine" in proc.stderr and "--tracking-uri http://" in proc.stderr


@pytest.mark.slow
def test_ray_executor_on_a_local_ray(cli_env, tmp_path):
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install 'mlcore[ray]'")
    env = dict(cli_env, RAY_DISABLE_USAGE_STATS="1", RAY_ENABLE_UV_RUN_RUNTIME_ENV="0")
    text = STEPS.format(body="  grid:\n    data_spec.steps: [2, 3, 4]\n")
    proc = run_cli(["sweep", str(_sweep(tmp_path / "s.yaml", text)), "--executor", "ray", "--max-workers", "2",
                    "--json"], env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert [r["status"] for r in out["runs"]] == ["FINISHED"] * 3
    pids = {json.loads((Path(r["run_dir"]) / "summary" / "run_summary.json").read_text())["pid"] for r in out["runs"]}
    assert os.getpid() not in pids  # ran in Ray's workers


def test_ray_missing_is_a_clear_install_message(cli_env, tmp_path):
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed (extras job)")
    proc = run_cli(["sweep", str(_sweep(tmp_path / "s.yaml", FAILING)), "--executor", "ray"], cli_env)
    assert proc.returncode == 2 and f'pip install -e "{Path(__file__).resolve().parents[1]}[ray]"' in proc.stderr, proc.stderr


def test_the_readme_sweep_example_is_valid(cli_env):
    pytest.importorskip("sklearn", reason="needs the sklearn extra")
    root = Path(__file__).resolve().parents[1]
    proc = run_cli(["sweep", str(root / "examples" / "sweeps" / "rf.yaml"), "--dry-run", "--json"], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 8


@pytest.mark.parametrize(("example", "needs"), [("tpe_sklearn.yaml", "sklearn"), ("tpe_torch.yaml", "torch")])
def test_the_search_examples_are_valid(cli_env, example, needs):
    """`--dry-run` checks the configs at the ends of every range: an example edited into a bad one fails here."""
    pytest.importorskip(needs, reason=f"needs the {needs} extra")
    root = Path(__file__).resolve().parents[1]
    proc = run_cli(["sweep", str(root / "examples" / "sweeps" / example), "--dry-run"], cli_env)
    assert proc.returncode == 0, proc.stderr


def test_resume_after_the_driver_was_killed_finds_finished_runs_on_disk(cli_env, tmp_path):
    """SIGKILL leaves no results.json: resume still skips what FINISHED, from the run folders."""
    text = "plugin: ext_sleep\ndata_spec: {{seconds: 0}}\nsweep:\n  name: killed\n  grid: {{data_spec.seconds: [0, {s}]}}\n"
    spec = _sweep(tmp_path / "s.yaml", text.format(s=60))
    proc = subprocess.Popen([sys.executable, "-m", "core", "sweep", str(spec), "--executor", "sequential"],
                            env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs"
    deadline = time.monotonic() + 240
    while len(list(runs.glob("*/ready"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=30)
    sweep_dir = next((runs.parent / "sweeps").glob("killed-*"))
    assert not (sweep_dir / "results.json").exists()
    _sweep(tmp_path / "s.yaml", text.format(s=0))  # the slow config changes, the finished one does not
    done = run_cli(["sweep", str(spec), "--resume", "--executor", "sequential"], cli_env)
    assert done.returncode == 0, done.stderr
    assert "1 of 2 runs already FINISHED, running 1" in done.stdout
    assert len(list(runs.iterdir())) == 3  # the finished one, the killed one, the rerun


def test_a_cluster_drivers_checks_leave_the_nodes_files_and_devices_to_the_nodes():
    """A CSV that only the cluster's nodes have, or a precision only their GPUs can do, is no reason for the
    driver to refuse the sweep; on this machine (no cluster) both are bad input as for `core run`."""
    pytest.importorskip("sklearn", reason="needs the sklearn extra")
    from core._errors import BadInput
    from core._sweep.executors import SequentialExecutor

    class OnCluster(SequentialExecutor):
        on_cluster = True

    specs = [({"plugin": "sklearn_regressor", "data_spec": {"data": {"source": "csv", "path": "/data/on-nodes.csv",
                                                                     "target": "y"}}}, "s.yaml (run 0)")]
    OnCluster().validate(specs)
    with pytest.raises(BadInput, match="file not found"):
        SequentialExecutor().validate(specs)
    assert "CORE_VALIDATION" not in os.environ


def test_a_plugin_missing_on_a_node_names_the_node_and_its_distribution(tmp_path, monkeypatch):
    """A cluster run (its folder node-local) whose plugin the node lacks: one line with the node and the
    distribution the driver has it from, not the plugin key alone; on the driver the distribution is
    read from the plugin's entry point."""
    from core._registry import Registry
    from core._sweep.worker import NODE, SweepJob, execute_job

    monkeypatch.setenv("CORE_ARTIFACT_ROOT", str(tmp_path / "node"))
    job = SweepJob(0, "k", {"plugin": "not_here"}, None, "memory", run_id="r1", plugin_dist="mlcore-extras 2.1")
    result = execute_job(job)
    assert result.status.value == "FAILED" and result.node == NODE
    assert result.error.startswith(f"PluginNotFound on node {NODE}: plugin 'not_here' is not installed there")
    assert "mlcore-extras 2.1" in result.error and "--ray-runtime-env" in result.error
    assert "\n" not in result.error and not (tmp_path / "node" / "runs").exists()
    assert Registry().distribution("sklearn_classifier").startswith("mlcore ")
    assert Registry().distribution("no_such_plugin") is None


# The driver, with the parent run's tracking connection going down as the run is ended: the totals
# reach MLflow, the end does not (what a server that dies at the sweep's end does).
_PARENT_END_LOST = """
import sys
from core._sweep import parent
from core.cli import main

finish = parent.ParentRun.finish


class EndLost:
    def __init__(self, backend):
        self.backend = backend

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def end_run(self, *args, **kwargs):
        raise ConnectionError("the tracking server went away")


def finish_with_the_end_lost(self, *args, **kwargs):
    object.__setattr__(self, "backend", EndLost(self.backend))
    return finish(self, *args, **kwargs)


def killed_writing_the_page(*args, **kwargs):  # as SIGKILL would: the table written, the parent not ended
    import os
    os._exit(137)


if sys.argv[1] == "end_lost":
    parent.ParentRun.finish = finish_with_the_end_lost
else:
    from core._sweep import driver
    driver.write_page = killed_writing_the_page
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("how", ["end_lost", "driver_killed"])
def test_a_parent_run_whose_end_never_reached_tracking_is_ended_by_resume(mlflow_env, tmp_path, how):
    """The sweep's end could not end its parent MLflow run (its end call lost: the warning says how to end
    it; or the driver killed while it wrote the sweep's page, its table written): the sweep's state remembers it, and `--resume`
    with nothing left to run ends it FINISHED, its totals logged once."""
    from mlflow import MlflowClient

    spec = _sweep(tmp_path / "s.yaml", STEPS.format(body="  grid:\n    data_spec.steps: [2, 3]\n"))
    proc = subprocess.run([sys.executable, "-c", _PARENT_END_LOST, how, "sweep", str(spec), "--json"],
                          env=mlflow_env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    root = Path(mlflow_env["CORE_ARTIFACT_ROOT"])
    [folder] = (root / "sweeps").iterdir()
    state_file = folder / "state.json"
    state = json.loads(state_file.read_text())
    if how == "end_lost":
        assert proc.returncode == 0, proc.stderr[-3000:]
        warning = [line for line in proc.stderr.splitlines() if "could not finish the parent MLflow run" in line]
        assert len(warning) == 1 and f"--resume {state['sweep_id']}" in warning[0], proc.stderr
        assert "--tracking-uri" not in warning[0]  # the embedded store: the resume finds it by itself
        assert state["parent_end_pending_ms"] > 0
    else:
        assert proc.returncode == 137, proc.stderr[-3000:]
        assert state["parent_end_pending_ms"] == 0  # noted when the parent was made: to be ended
    client = MlflowClient(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    assert client.get_run(state["parent_run_id"]).info.status == "RUNNING"
    logged = 1 if how == "end_lost" else 0
    assert len(client.get_metric_history(state["parent_run_id"], "sweep_finished")) == logged
    out = {"sweep_id": state["sweep_id"], "parent_run_id": state["parent_run_id"]}

    again = run_cli(["sweep", str(spec), "--resume", out["sweep_id"], "--json"], mlflow_env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["startup_s"] == 0.0 and "nothing left to run" in again.stderr
    assert "could not finish" not in again.stderr
    parent = client.get_run(out["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.metrics["sweep_finished"] == 2
    assert len(client.get_metric_history(out["parent_run_id"], "sweep_finished")) == 1  # the same point again
    assert json.loads(state_file.read_text())["parent_end_pending_ms"] is None
    assert len(list((root / "runs").iterdir())) == 2  # no run ran again


def test_two_drivers_never_run_one_sweep_at_once(cli_env, tmp_path):
    """While a driver holds a sweep (its folder's driver.lock, flocked), a second `--resume` of it is one
    line naming the holder's pid, exit 2, nothing run; once the lock is free the resume goes ahead."""
    import fcntl

    spec = _sweep(tmp_path / "s.yaml", STEPS.format(body="  grid:\n    data_spec.steps: [2, 3]\n"))
    first = run_cli(["sweep", str(spec), "--json", "--executor", "sequential"], cli_env)
    assert first.returncode == 0, first.stderr
    sweep_id = json.loads(first.stdout)["sweep_id"]
    lock = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "sweeps" / sweep_id / "driver.lock"
    assert lock.read_text() != str(os.getpid())  # the first driver's pid, its lock freed when it ended
    runs = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs"
    before = sorted(p.name for p in runs.iterdir())
    with open(lock, "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running driver holds it
        held.truncate(0)
        held.write("4242")
        held.flush()
        proc = run_cli(["sweep", str(spec), "--resume", sweep_id, "--retry-failed", "1"], cli_env)
    assert proc.returncode == 2, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert sweep_id in line and "pid 4242" in line and "Traceback" not in proc.stderr
    assert sorted(p.name for p in runs.iterdir()) == before
    proc = run_cli(["sweep", str(spec), "--resume", sweep_id], cli_env)
    assert proc.returncode == 0 and "nothing left to run" in proc.stdout, proc.stderr
    assert "running 0" not in proc.stdout  # said once, not twice


def test_a_file_system_without_flock_runs_sweeps_unguarded(tmp_path, monkeypatch):
    """flock refused (ENOLCK, as on some network mounts): the sweep's folder opens without its lock
    instead of every sweep failing; a held lock is still refused."""
    import errno
    import fcntl

    from core._sweep import store as sweep_store

    plan = load_sweep(_sweep(tmp_path / "s.yaml", STEPS.format(body="  grid:\n    data_spec.steps: [2]\n")))

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    opened = sweep_store.SweepStore.open(tmp_path / "root", plan, None)
    assert opened.lock_fd is None
    opened.close()


def test_a_metric_no_run_logged_is_said_with_what_they_did_log(cli_env, tmp_path):
    """`--metric train_los` (a typo): said once, at the first run that finished without it (not after the
    last), with the metric meant and those the run logged; a metric the runs log gets no such line."""
    spec = _sweep(tmp_path / "s.yaml", STEPS.format(body="  grid:\n    data_spec.steps: [2, 3]\n"))
    proc = run_cli(["sweep", str(spec), "--executor", "sequential", "--metric", "train_los"], cli_env)
    assert proc.returncode == 0, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if "train_los'" in line]
    assert "FINISHED without logging the sweep's metric 'train_los': runs that do not log it are not ranked" in line
    assert "did you mean 'train_loss'?" in line and "train_loss" in line.split("logged:")[1]
    first = next(text for text in proc.stdout.splitlines() if text.startswith("ok     [1/2] run "))
    assert f"run {first.split()[3]} FINISHED without" in line  # the first run's, as it came back
    proc = run_cli(["sweep", str(spec), "--executor", "sequential", "--json"], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "without logging" not in proc.stderr and "no run logged" not in proc.stderr, proc.stderr


def test_resuming_a_sweep_id_that_is_not_there_names_the_ones_that_are(tmp_path):
    from core._errors import BadInput
    from core._sweep.store import SweepStore

    plan = load_sweep(_sweep(tmp_path / "s.yaml", STEPS.format(body="  grid:\n    data_spec.steps: [1]\n")))
    root = tmp_path / "root"
    with pytest.raises(BadInput, match=r"no sweep 'steps-1' in .* \(nor any sweep named 'steps'\)$"):
        SweepStore.open(root, plan, "steps-1")
    made = []
    for _ in range(4):
        store = SweepStore.open(root, plan, None)
        store.save_state(parent_run_id=None, tracking_uri="memory")  # a sweep is resumable once its state is saved
        store.close()
        made.append(store.sweep_id)
        time.sleep(0.002)  # ids are dated to the millisecond
    with pytest.raises(BadInput) as caught:
        SweepStore.open(root, plan, "steps-typo")
    message = str(caught.value)
    assert f"newest first: {made[3]}, {made[2]}, {made[1]} and 1 older; or --resume latest" in message, message
    # A newer sweep whose name only starts with this one's is another sweep: not the latest 'steps'.
    other = load_sweep(_sweep(tmp_path / "o.yaml", STEPS.replace("name: steps", "name: steps-big").format(
        body="  grid:\n    data_spec.steps: [1]\n")))
    store = SweepStore.open(root, other, None)
    store.save_state(parent_run_id=None, tracking_uri="memory")
    store.close()
    latest = SweepStore.open(root, plan, "latest")
    latest.close()
    assert latest.sweep_id == made[3]


def test_a_resume_refuses_another_sweeps_file(tmp_path):
    """`--resume <id>` with another sweep's file would rank that sweep's runs by this file's metric and
    overwrite its plan and table: refused, naming the sweep's own name and file."""
    from core._errors import BadInput
    from core._sweep.store import SweepStore

    plan = load_sweep(_sweep(tmp_path / "s.yaml", STEPS.format(body="  grid:\n    data_spec.steps: [1]\n")))
    root = tmp_path / "root"
    store = SweepStore.open(root, plan, None)
    store.save_state(parent_run_id=None, tracking_uri="memory")
    store.save_plan(plan)
    store.close()
    other = _sweep(tmp_path / "o.yaml", "plugin: ext_sleep\ndata_spec: {seconds: 0}\nsweep:\n  name: naps\n"
                                        "  grid: {data_spec.seconds: [0]}\n")
    with pytest.raises(BadInput, match=rf"--resume {store.sweep_id}: that sweep is named 'steps' \(from .*s.yaml\), "
                                       r"this file's is 'naps'"):
        SweepStore.open(root, load_sweep(other), store.sweep_id)
    with pytest.raises(BadInput, match="that sweep ran plugin 'ext_steps', this file runs 'ext_sleep'"):
        SweepStore.open(root, load_sweep(other, name="steps"), store.sweep_id)
    SweepStore.open(root, load_sweep(_sweep(tmp_path / "s.yaml", STEPS.format(
        body="  grid:\n    data_spec.steps: [1, 2]\n"))), store.sweep_id).close()  # its own file, values changed
    # Its own file under another --name, and a sweep whose grid chooses the plugin: both its own.
    named = SweepStore.open(root, load_sweep(tmp_path / "s.yaml", name="mine"), None)
    named.save_state(parent_run_id=None, tracking_uri="memory")
    named.close()
    SweepStore.open(root, load_sweep(tmp_path / "s.yaml"), named.sweep_id).close()
    both = _sweep(tmp_path / "both.yaml", STEPS.format(body="  grid:\n    plugin: [ext_curve, ext_sleep]\n"))
    swept = SweepStore.open(root, load_sweep(both), None)
    swept.save_state(parent_run_id=None, tracking_uri="memory")
    swept.save_plan(load_sweep(both))
    swept.close()
    SweepStore.open(root, load_sweep(both), swept.sweep_id).close()


def test_the_command_line_flags_win_over_the_sweep_file(tmp_path):
    """--name, --metric and --mode over sweep.name/metric/mode; a new metric without --mode takes the
    mode its name implies, not the old metric's."""
    path = _sweep(tmp_path / "s.yaml", STEPS.format(body="  mode: min\n  grid:\n    data_spec.steps: [1]\n"))
    plan = load_sweep(path, name="other", metric="accuracy")
    assert (plan.name, plan.metric, plan.mode) == ("other", "accuracy", None)  # None: by name, when ranked
    assert load_sweep(path, metric="train_loss").mode == "min"  # the same metric keeps the file's mode
    assert load_sweep(path, mode="max").mode == "max" and load_sweep(path).name == "steps"
