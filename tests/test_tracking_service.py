"""The local tracking service (core/_tracking/service*.py), with real processes: runs through it never
import MLflow, its socket is owner-only, a killed or hung service loses nothing and sends nothing
twice, one service serves many runs at once, a second service for one store exits, and `core
tracking status|stop`. Every service a test starts is stopped by its pid when the test ends."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_summary, run_cli, write_spec

from core._tracking import default_target
from core._tracking.service_admin import is_service, services
from core._tracking.service_wire import MAX_SOCKET_PATH, SERVICE_DIR, host_dir, place_for

pytest.importorskip("mlflow")


@pytest.fixture
def service_env(mlflow_env):
    """`mlflow_env` with the service on (a short idle time, should a test's own stop fail); afterwards
    every service of the test's artifact root is killed by pid."""
    env = dict(mlflow_env)
    env["CORE_TRACKING_SERVICE"] = "on"
    env["CORE_TRACKING_SERVICE_IDLE"] = "60"
    yield env
    root = Path(env["CORE_ARTIFACT_ROOT"])
    for pid in {s.pid for s in services(root)} | set(host_pids()):
        if is_service(pid):
            with_cont(pid)
            os.kill(pid, signal.SIGKILL)
    for control in host_dir().glob("*.sock") if host_dir().is_dir() else ():
        control.unlink()  # the killed processes' (the next test starts with none)


def host_pids() -> list[int]:
    """The service processes this test process's cache knows (each may serve several stores)."""
    folder = host_dir()
    return [int(p.stem.rsplit("-", 1)[1]) for p in folder.glob("*.sock")] if folder.is_dir() else []


def with_cont(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)  # one a test stopped (SIGSTOP) dies at once
    except OSError:
        pass


def root_of(env) -> Path:
    return Path(env["CORE_ARTIFACT_ROOT"])


def the_service(root: Path):
    found = [s for s in services(root) if s.state != "gone"]
    assert len(found) == 1, found
    return found[0]


def store_rows(root: Path, sql: str, *args) -> list[tuple]:
    db = default_target(root).sqlite_path
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def metric_points(root: Path, mlflow_run_id: str, key: str) -> list[tuple]:
    return store_rows(root, "SELECT step, value FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step",
                      mlflow_run_id, key)


def run_status(root: Path, mlflow_run_id: str) -> str:
    return store_rows(root, "SELECT status FROM runs WHERE run_uuid = ?", mlflow_run_id)[0][0]


_IN_PROCESS_RUN = """
import json, sys
from core import RunSpec
from core._runner import run
outcome = run(RunSpec(plugin="echo"))
print(json.dumps({"status": outcome.status.value, "run_dir": str(outcome.run_dir),
                  "mlflow": sorted(m for m in sys.modules if m == "mlflow" or m.startswith("mlflow."))}))
"""


def test_a_run_through_the_service_never_imports_mlflow_and_is_complete_in_mlflow(service_env, tmp_path):
    """The run process imports no MLflow module; the MLflow run is FINISHED with every call when it returns."""
    proc = subprocess.run([sys.executable, "-c", _IN_PROCESS_RUN], env=service_env, capture_output=True, text=True,
                          timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "FINISHED"
    assert out["mlflow"] == []
    summary = read_summary(Path(out["run_dir"]))
    assert summary["tracking"]["pending"] == 0 and summary["tracking"]["backend"] == "mlflow"
    root, mlflow_id = root_of(service_env), summary["tracking"]["run_id"]
    assert run_status(root, mlflow_id) == "FINISHED"
    assert metric_points(root, mlflow_id, "train_loss") == [(1, 0.5)]
    assert store_rows(root, "SELECT key, value FROM params WHERE run_uuid = ? ORDER BY key", mlflow_id) == [
        ("data.n", "3"), ("model.type", "none")]
    artifacts = Path(store_rows(root, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", mlflow_id)[0][0][7:])
    assert (artifacts / "metrics" / "m.json").is_file() and (artifacts / "summary").is_dir()
    assert the_service(root).calls >= 4


def test_the_socket_and_its_folder_are_owner_only(service_env, tmp_path):
    """Socket 0600 in a 0700 folder: another user can neither connect nor look in."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    svc = the_service(root_of(service_env))
    sock = Path(svc.socket)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    folder = root_of(service_env) / SERVICE_DIR
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 or path.suffix == ".json", path


def test_a_root_too_deep_for_af_unix_gets_a_short_private_socket(tmp_path):
    """A socket path over AF_UNIX's limit moves to the temp folder, keyed by the long path."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    place = place_for(deep, "sqlite:///x.db", None)
    assert len(os.fsencode(place.socket)) <= MAX_SOCKET_PATH
    assert place.socket.parent.name == f"mlcore-{os.getuid()}"
    assert place.dir == deep / SERVICE_DIR  # the lock and info stay in the artifact root
    assert place_for(Path("/srv/ml"), "sqlite:///x.db", None).socket.parent == Path("/srv/ml") / SERVICE_DIR


def test_a_run_in_a_deep_root_goes_through_the_short_socket(service_env, migrated_store, tmp_path):
    """The short socket serves runs, and its folder is owner-only too."""
    from conftest import copy_store

    env = dict(service_env)
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    copy_store(migrated_store, deep)
    env["CORE_ARTIFACT_ROOT"] = str(deep)
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    try:
        proc = run_cli(["run", str(spec)], env)
        assert proc.returncode == 0, proc.stderr
        svc = the_service(deep)
        assert svc.state == "ready" and svc.calls >= 4
        sock = Path(svc.socket)
        assert not str(sock).startswith(str(deep))
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    finally:
        for s in services(deep):
            if is_service(s.pid):
                os.kill(s.pid, signal.SIGKILL)


def _start_steps_run(env, tmp_path, steps: int, pause_after: int) -> tuple[subprocess.Popen, Path]:
    spec = write_spec(tmp_path / "steps.yaml",
                      f"plugin: ext_steps\ndata_spec: {{steps: {steps}, pause_after: {pause_after}}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "core", "run", str(spec)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        paused = list((root_of(env) / "runs").glob("*/paused"))
        if paused:
            return proc, paused[0].parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the run never paused")


def _finish(proc: subprocess.Popen, run_dir: Path) -> tuple[int, str]:
    (run_dir / "resume").write_text("")
    out, err = proc.communicate(timeout=180)
    return proc.returncode, err


def test_service_killed_mid_run_the_run_finishes_and_nothing_is_lost_or_sent_twice(service_env, tmp_path):
    """SIGKILL the service while a run is part-way: the run sends the rest in-process; every metric point
    is in MLflow exactly once, the run FINISHED, nothing pending."""
    proc, run_dir = _start_steps_run(service_env, tmp_path, steps=40, pause_after=20)
    svc = the_service(root_of(service_env))
    os.kill(svc.pid, signal.SIGKILL)
    code, err = _finish(proc, run_dir)
    assert code == 0, err
    summary = read_summary(run_dir)
    assert summary["status"] == "FINISHED" and summary["tracking"]["pending"] == 0
    mlflow_id = summary["tracking"]["run_id"]
    root = root_of(service_env)
    assert run_status(root, mlflow_id) == "FINISHED"
    points = metric_points(root, mlflow_id, "train_loss")
    assert [step for step, _ in points] == list(range(40))  # each once: none lost, none twice
    assert "in-process" in (run_dir / "logs" / "run.log").read_text()
    # The next run starts a new service.
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    assert the_service(root).pid != svc.pid


def metric_counts(root: Path, mlflow_run_id: str, key: str) -> tuple[int, int]:
    """(rows, distinct steps) of one metric of one run in the store: equal when no point is there twice."""
    [(rows, steps)] = store_rows(root, "SELECT COUNT(*), COUNT(DISTINCT step) FROM metrics WHERE run_uuid = ? AND key = ?",
                                 mlflow_run_id, key)
    return rows, steps


def test_ten_thousand_step_metrics_through_the_service_are_each_stored_once(service_env, tmp_path):
    """10,000 points go to the service from the recorder's sender thread while the plugin goes on: when the
    run returns FINISHED every one is in MLflow, once, none left pending, and none went in-process."""
    spec = write_spec(tmp_path / "steps.yaml", "plugin: ext_steps\ndata_spec: {steps: 10000}\n")
    proc = run_cli(["run", str(spec)], service_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    root = root_of(service_env)
    [run_dir] = (root / "runs").iterdir()
    summary = read_summary(run_dir)
    assert summary["status"] == "FINISHED" and summary["tracking"]["pending"] == 0
    mlflow_id = summary["tracking"]["run_id"]
    assert run_status(root, mlflow_id) == "FINISHED"
    assert metric_counts(root, mlflow_id, "train_loss") == (10000, 10000)
    assert store_rows(root, "SELECT MIN(step), MAX(step) FROM metrics WHERE run_uuid = ?", mlflow_id) == [(0, 9999)]
    assert "in-process" not in (run_dir / "logs" / "run.log").read_text()
    assert the_service(root).calls >= 12  # the start, 10 batches of 1,000, the artifacts, the end


@pytest.mark.slow
def test_service_killed_mid_stream_nothing_lost_or_stored_twice(service_env, tmp_path):
    """SIGKILL the service while batches are in flight (some stored, most not yet): the run sends the rest
    in-process, including a batch the service may have stored without answering; every point is in
    MLflow exactly once, the run FINISHED, nothing pending."""
    n = 20000
    spec = write_spec(tmp_path / "steps.yaml", f"plugin: ext_steps\ndata_spec: {{steps: {n}}}\n")
    root = root_of(service_env)
    first = run_cli(["run", str(write_spec(tmp_path / "echo.yaml", "plugin: echo\n"))], service_env)
    assert first.returncode == 0, first.stderr  # the service up and the store open: the stream starts at once
    svc = the_service(root)
    proc = subprocess.Popen([sys.executable, "-m", "core", "run", str(spec)], env=service_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = default_target(root).sqlite_path
    stored, deadline = 0, time.time() + 180
    try:
        while time.time() < deadline and proc.poll() is None:
            with sqlite3.connect(db, timeout=30) as conn:
                stored = conn.execute("SELECT COUNT(*) FROM metrics WHERE key = 'train_loss'").fetchone()[0]
            if 1000 <= stored <= n - 5000:  # at least five batches still to go
                os.kill(svc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        _, err = proc.communicate(timeout=300)
    assert 1000 <= stored <= n - 5000, f"never caught mid-stream ({stored} stored)"
    assert proc.returncode == 0, err
    runs = [d for d in (root / "runs").iterdir() if read_summary(d)["plugin"]["key"] == "ext_steps"]
    [run_dir] = runs
    summary = read_summary(run_dir)
    assert summary["status"] == "FINISHED" and summary["tracking"]["pending"] == 0
    mlflow_id = summary["tracking"]["run_id"]
    assert run_status(root, mlflow_id) == "FINISHED"
    assert metric_counts(root, mlflow_id, "train_loss") == (n, n)
    assert "in-process" in (run_dir / "logs" / "run.log").read_text()


def test_hung_service_the_run_falls_back_within_its_timeout(service_env, tmp_path):
    """A service that stops answering (SIGSTOP) costs a run one timeout, then it sends in-process."""
    service_env["CORE_TRACKING_SERVICE_TIMEOUT"] = "2"
    proc, run_dir = _start_steps_run(service_env, tmp_path, steps=10, pause_after=5)
    svc = the_service(root_of(service_env))
    os.kill(svc.pid, signal.SIGSTOP)
    try:
        code, err = _finish(proc, run_dir)  # its next call waits 2 s, once, then it sends in-process
        assert code == 0, err
        summary = read_summary(run_dir)
        assert summary["status"] == "FINISHED" and summary["tracking"]["pending"] == 0
        spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
        started = time.monotonic()
        second = run_cli(["run", str(spec)], service_env)
        assert second.returncode == 0, second.stderr
        assert time.monotonic() - started < 60
        root = root_of(service_env)
        for rd in (root / "runs").iterdir():
            s = read_summary(rd)
            assert s["tracking"]["pending"] == 0 and run_status(root, s["tracking"]["run_id"]) == "FINISHED"
        assert [step for step, _ in metric_points(root, summary["tracking"]["run_id"], "train_loss")] == list(range(10))
    finally:
        with_cont(svc.pid)


def test_a_second_service_for_the_same_store_exits(service_env, tmp_path):
    """Two services never both send: the second finds the lock held and exits at once."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    root = root_of(service_env)
    first = the_service(root)
    target = default_target(root)
    env = dict(service_env, CORE_TRACKING_SERVICE_URI=target.uri,
               CORE_TRACKING_SERVICE_ARTIFACT_LOCATION=target.artifact_location)
    second = subprocess.run([sys.executable, "-m", "core._tracking.service_host", "--root", str(root)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0
    assert "another tracking service holds" in second.stderr
    assert the_service(root).pid == first.pid and the_service(root).state == "ready"


@pytest.mark.xdist_group("many_processes")
def test_sixteen_runs_at_once_share_one_service(service_env, tmp_path):
    """16 concurrent `core run`s through one service: all FINISHED, complete in MLflow, one service."""
    n = int(os.environ.get("MLCORE_TEST_CONCURRENT_RUNS", "16"))
    spec = write_spec(tmp_path / "steps.yaml", "plugin: ext_steps\ndata_spec: {steps: 25}\n")
    first = run_cli(["run", str(spec)], service_env)  # the service up first: the rest is concurrency, not start-up
    assert first.returncode == 0, first.stderr
    pid = the_service(root_of(service_env)).pid
    procs = [subprocess.Popen([sys.executable, "-m", "core", "run", str(spec)], env=service_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, errors
    root = root_of(service_env)
    runs = sorted((root / "runs").iterdir())
    assert len(runs) == n + 1
    for run_dir in runs:
        summary = read_summary(run_dir)
        assert summary["status"] == "FINISHED" and summary["tracking"]["pending"] == 0
        mlflow_id = summary["tracking"]["run_id"]
        assert run_status(root, mlflow_id) == "FINISHED"
        assert [s for s, _ in metric_points(root, mlflow_id, "train_loss")] == list(range(25))
        assert "in-process" not in (run_dir / "logs" / "run.log").read_text()
    svc = the_service(root)
    assert svc.pid == pid and svc.runs == n + 1


def test_service_off_sends_in_process_and_starts_nothing(service_env, tmp_path):
    """CORE_TRACKING_SERVICE=off: no service, no socket, the run complete in MLflow as before."""
    env = dict(service_env, CORE_TRACKING_SERVICE="off")
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    proc = run_cli(["run", str(spec)], env)
    assert proc.returncode == 0, proc.stderr
    assert not (root_of(env) / SERVICE_DIR).exists()
    runs = list((root_of(env) / "runs").iterdir())
    assert run_status(root_of(env), read_summary(runs[0])["tracking"]["run_id"]) == "FINISHED"


def test_core_tracking_status_and_stop(service_env, tmp_path):
    """`core tracking status` shows the service; `stop` ends its process; status then shows none."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    status = run_cli(["tracking", "status", "--json"], service_env)
    assert status.returncode == 0, status.stderr
    found = json.loads(status.stdout)
    assert found["enabled"] is True
    [svc] = found["services"]
    assert svc["state"] == "ready" and svc["clients"] == 0 and svc["calls"] >= 4
    assert "mlflow.db" in svc["uri"]
    stop = run_cli(["tracking", "stop"], service_env)
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout
    assert not is_service(svc["pid"])
    assert not Path(svc["socket"]).exists()
    after = run_cli(["tracking", "status"], service_env)
    assert "no tracking service" in after.stdout


def test_the_service_exits_after_its_idle_time(service_env, tmp_path):
    """No run for CORE_TRACKING_SERVICE_IDLE seconds: the service exits and removes its socket and info.
    Asking for its status meanwhile is not use: `watch core tracking status` does not keep it up."""
    env = dict(service_env, CORE_TRACKING_SERVICE_IDLE="3")
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], env).returncode == 0
    folder = root_of(env) / SERVICE_DIR
    [log] = folder.glob("*.log")
    idle = []
    deadline = time.time() + 60
    while "tracking service exits" not in log.read_text() and time.time() < deadline:
        status = run_cli(["tracking", "status", "--json"], env)  # about every second, as `watch` would
        idle += [svc["idle_s"] for svc in json.loads(status.stdout)["services"] if svc.get("idle_s") is not None]
        time.sleep(0.5)
    assert "tracking service exits" in log.read_text()
    assert idle and max(idle) >= 1, idle  # the idle time grew while only the status was asked
    assert services(root_of(env)) == []  # its info file is gone with it
    assert not list(folder.glob("*.sock"))


def _second_root(service_env, migrated_store, tmp_path, name: str = "second", **extra) -> dict:
    from conftest import copy_store

    root = tmp_path / name
    copy_store(migrated_store, root)
    return dict(service_env, CORE_ARTIFACT_ROOT=str(root), **extra)


def test_a_second_store_is_served_by_the_process_already_serving_one(service_env, migrated_store, tmp_path):
    """A run whose store has no service asks a live service process to serve it too: one process (MLflow
    imported once) serves both roots, each store through its own socket and lock and complete in its own
    MLflow store; stopping one store's service leaves the other's serving; a process killed with
    SIGKILL leaves a control socket that the next run clears, starting a process of its own."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    first = root_of(service_env)
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    host = the_service(first)
    env2 = _second_root(service_env, migrated_store, tmp_path)
    second = root_of(env2)
    proc = run_cli(["run", str(spec)], env2)
    assert proc.returncode == 0, proc.stderr
    adopted = the_service(second)
    assert adopted.pid == host.pid and adopted.socket != host.socket and adopted.state == "ready"
    assert host_pids() == [host.pid]
    for root in (first, second):
        [run_dir] = (root / "runs").iterdir()
        summary = read_summary(run_dir)
        assert summary["tracking"]["pending"] == 0
        assert run_status(root, summary["tracking"]["run_id"]) == "FINISHED"  # in its own store
        assert "in-process" not in (run_dir / "logs" / "run.log").read_text()
    assert f"served by the tracking service process {host.pid}" in Path(adopted.info_file).with_suffix(".log").read_text()

    stop = run_cli(["tracking", "stop"], env2)
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
    assert services(second) == [] and not Path(adopted.socket).exists()
    assert is_service(host.pid) and the_service(first).state == "ready"  # the first store still served
    calls = the_service(first).calls
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    assert the_service(first).pid == host.pid and the_service(first).calls > calls

    os.kill(host.pid, signal.SIGKILL)  # its control socket stays behind, refusing connections
    proc = run_cli(["run", str(spec)], env2)
    assert proc.returncode == 0, proc.stderr
    new = the_service(second)
    assert new.pid != host.pid and host_pids() == [new.pid]  # the dead process's socket cleared


def test_each_store_keeps_its_own_idle_time_in_a_shared_process(service_env, migrated_store, tmp_path):
    """The second store's service ends after the idle time its run asked for; the process goes on
    serving the first store, then exits with its last store (here: asked to stop)."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    host = the_service(root_of(service_env))
    env2 = _second_root(service_env, migrated_store, tmp_path, CORE_TRACKING_SERVICE_IDLE="1")
    assert run_cli(["run", str(spec)], env2).returncode == 0
    assert the_service(root_of(env2)).pid == host.pid
    deadline = time.time() + 60
    while services(root_of(env2)) and time.time() < deadline:
        time.sleep(0.05)  # its status asked far more often than the service's accept time-out (0.5 s)
    assert services(root_of(env2)) == []
    assert is_service(host.pid) and the_service(root_of(service_env)).state == "ready"
    assert run_cli(["tracking", "stop"], service_env).returncode == 0
    deadline = time.time() + 30
    while is_service(host.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not is_service(host.pid) and host_pids() == []  # the last store gone, the process with it


@pytest.mark.parametrize("differs", ["mlflow_setting", "umask"])
def test_a_run_with_other_settings_gets_a_process_of_its_own(differs, service_env, migrated_store, tmp_path):
    """A store is never served with another run's settings: a different `MLFLOW_*` variable, or another
    umask (the store's files get the modes the run's own process would give them), is a different host
    key, so the second run starts its own process."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    host = the_service(root_of(service_env))
    if differs == "mlflow_setting":
        env2 = _second_root(service_env, migrated_store, tmp_path, MLFLOW_ENABLE_ASYNC_LOGGING="false")
        proc = run_cli(["run", str(spec)], env2)
    else:
        env2 = _second_root(service_env, migrated_store, tmp_path)
        proc = subprocess.run([sys.executable, "-m", "core", "run", str(spec)], env=env2, capture_output=True,
                              text=True, timeout=300, preexec_fn=lambda: os.umask(0o077))
    assert proc.returncode == 0, proc.stderr
    assert the_service(root_of(env2)).pid != host.pid
    assert sorted(host_pids()) == sorted({host.pid, the_service(root_of(env2)).pid})


def test_a_shared_process_takes_only_local_stores(service_env, tmp_path):
    """An `adopt` for a server URI is refused (its calls depend on settings the host key does not cover):
    the run starts a process of its own for a server."""
    from core._tracking.service_wire import receive, send

    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    host = the_service(root_of(service_env))
    [control] = host_dir().glob(f"*-{host.pid}.sock")
    assert stat.S_IMODE(control.stat().st_mode) == 0o600 and stat.S_IMODE(control.parent.stat().st_mode) == 0o700
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(control))
        send(sock, {"op": "adopt", "args": {"uri": "http://127.0.0.1:9", "location": None, "key": "k" * 16,
                                            "root": str(tmp_path / "srv"), "socket": str(tmp_path / "srv.sock")}})
        reply = receive(sock)
    assert reply["ok"] is False and "only local stores" in reply["error"]["message"]
    assert not (tmp_path / "srv").exists()


def test_stopping_one_store_cuts_off_its_runs_which_then_send_in_process(service_env, migrated_store, tmp_path):
    """`core tracking stop` for a store whose process serves another too: a run connected to it mid-run is
    cut off and sends the rest in-process (as when a service dies), nothing pending, each point once. A
    store whose service ended is not served by that process again (MLflow keeps its engine there): its
    folder removed and made anew, the next run gets a process of its own and its store is the new one."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec)], service_env).returncode == 0
    host = the_service(root_of(service_env))
    env2 = _second_root(service_env, migrated_store, tmp_path)
    second = root_of(env2)
    proc, run_dir = _start_steps_run(env2, tmp_path, steps=30, pause_after=15)
    assert the_service(second).pid == host.pid
    stop = run_cli(["tracking", "stop"], env2)
    assert stop.returncode == 0 and "goes on serving 1 other store" in stop.stdout, stop.stdout + stop.stderr
    code, err = _finish(proc, run_dir)
    assert code == 0, err
    summary = read_summary(run_dir)
    assert summary["status"] == "FINISHED" and summary["tracking"]["pending"] == 0, summary["tracking"]
    assert [step for step, _ in metric_points(second, summary["tracking"]["run_id"], "train_loss")] == list(range(30))
    assert "in-process" in (run_dir / "logs" / "run.log").read_text()
    assert is_service(host.pid) and the_service(root_of(service_env)).state == "ready"

    import shutil

    from conftest import copy_store

    shutil.rmtree(second)
    copy_store(migrated_store, second)
    again = run_cli(["run", str(spec)], env2)
    assert again.returncode == 0, again.stderr
    assert the_service(second).pid != host.pid
    [run_dir] = (second / "runs").iterdir()
    summary = read_summary(run_dir)
    assert summary["tracking"]["pending"] == 0 and run_status(second, summary["tracking"]["run_id"]) == "FINISHED"


def test_a_store_lock_is_kept_until_the_call_being_made_on_it_returns(tmp_path):
    """Closing one store's service (stop, idle) while a call is being made on the store: the lock, which
    keeps any other service from sending for the store, is released only once that call returned, and
    the connected run is cut off (it resends in-process: every call is safe twice)."""
    import fcntl
    import socket
    import threading

    from core._tracking.service import TrackingService
    from core._tracking.service_wire import ServicePlace, receive, send

    place = ServicePlace(tmp_path / SERVICE_DIR, "k" * 16, tmp_path / SERVICE_DIR / "k.sock")
    svc = TrackingService(place, "memory", None, idle_s=60)
    release, entered = threading.Event(), threading.Event()

    class SlowBackend:
        def log_batch(self, run_id, **_):
            entered.set()
            release.wait(30)

        def close(self):
            pass

    assert svc.claim()
    svc.listen()
    svc.backend = SlowBackend()
    svc.ready.set()
    server = threading.Thread(target=svc.serve, daemon=True)
    server.start()

    def lock_is_free() -> bool:
        fd = os.open(place.lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(30)
        client.connect(str(place.socket))
        send(client, {"op": "log_batch", "args": {"run_id": "r", "metrics": [["m", 1.0, 0, 0]]}})
        assert entered.wait(30)
        closing = threading.Thread(target=svc.close, daemon=True)
        closing.start()
        time.sleep(0.5)
        assert closing.is_alive() and not lock_is_free()  # the call still being made: the lock still held
        assert not place.socket.exists()  # no new run reaches this service meanwhile
        release.set()
        closing.join(30)
        assert not closing.is_alive() and lock_is_free()
        try:
            reply = receive(client)
        except (OSError, ConnectionError):
            reply = None
        assert reply is None or reply.get("ok")  # cut off (the run resends), or answered before the cut
    server.join(30)
