"""Issue 20, data loss, duplication and status: each test does what the adversarial pass did to
real `core` processes (kills at chosen moments, concurrent commands, a full disk) and reads the
record back from disk and from MLflow. Every test here has its row in RELIABILITY.md."""

import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_summary, run_cli, write_spec
from mlflow import MlflowClient  # mlflow-skinny is a core dependency

# Every test here runs real processes to the moment of a fault (10-30 s each on 2 cores):
# they run in the extras job, with the other slow ones.
pytestmark = pytest.mark.slow

# -- helpers ------------------------------------------------------------------------------------


def _root(env):
    return Path(env["CORE_ARTIFACT_ROOT"])


def _start(env, spec_path, *flags):
    return subprocess.Popen([sys.executable, "-m", "core", "run", str(spec_path), *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(env, name, timeout=240):
    """The run folder once its plugin has written `name` into it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list((_root(env) / "runs").glob(f"*/{name}"))
        if found:
            return found[0].parents[len(Path(name).parts) - 1]
        time.sleep(0.02)
    pytest.fail(f"no run wrote {name}")


def _kill(proc):
    proc.kill()
    proc.communicate(timeout=180)


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


# -- 5. a kill before the MLflow run exists, or in the first milliseconds -----------------------


def _silent_server():
    """A TCP listener that never answers: opening a tracking store on it takes seconds."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server


def test_a_run_killed_before_its_mlflow_run_existed_is_repaired_and_sync_exits_0(mlflow_env, tmp_path):
    """SIGKILL while the store opens: repair sends the journaled start and ends it KILLED; bare sync exits 0."""
    with _silent_server() as server:
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        spec = write_spec(tmp_path / "s.yaml", "plugin: echo\n")
        proc = _start(mlflow_env, spec, "--tracking-uri", uri)
        run_dir = _wait_for(mlflow_env, "tracking/state.json")
        time.sleep(1)  # well inside the seconds MLflow waits for the silent server
        _kill(proc)
    store = f"sqlite:///{_root(mlflow_env) / 'mlflow' / 'mlflow.db'}"
    repaired = run_cli(["runs", "repair", "--tracking-uri", store], mlflow_env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "KILLED on disk and in tracking" in repaired.stdout
    assert read_summary(run_dir)["status"] == "KILLED"
    assert _only_tracked(mlflow_env, run_dir).info.status == "KILLED"
    assert run_cli(["sync"], mlflow_env).returncode == 0


def _runs(env):
    return sorted((_root(env) / "runs").iterdir())


def test_an_end_without_a_start_left_by_an_older_repair_does_not_fail_every_sync(mlflow_env, tmp_path):
    """A journal holding only an end (no start) is acknowledged as nothing to send: bare sync exits 0, others sync."""
    from core._summary import ErrorInfo, PluginRef, RunSummary
    from core.contracts import RunStatus

    old = _root(mlflow_env) / "runs" / "20250101-000000-000-aaaaaa"
    RunSummary(run_id=old.name, status=RunStatus.KILLED, plugin=PluginRef("echo"),
               error=ErrorInfo("ProcessDied", "died", None)).write(old)
    (old / "tracking").mkdir()
    (old / "tracking" / "journal.jsonl").write_text('{"seq":1,"op":"end","status":"KILLED","time":1}\n')
    store = f"sqlite:///{_root(mlflow_env) / 'mlflow' / 'mlflow.db'}"
    (old / "tracking" / "state.json").write_text(json.dumps({"sent_seq": 0, "backend_run_id": None,
                                                              "target_uri": store}))
    spec = write_spec(tmp_path / "s.yaml", "plugin: echo\n")
    assert run_cli(["run", str(spec), "--offline"], mlflow_env).returncode == 0
    synced = run_cli(["sync"], mlflow_env)
    assert synced.returncode == 0, synced.stderr
    offline = next(d for d in _runs(mlflow_env) if d != old)
    assert _only_tracked(mlflow_env, offline).info.status == "FINISHED"
    assert _tracked(mlflow_env, old) == []
    assert run_cli(["sync"], mlflow_env).stdout.startswith("nothing to sync")


def test_a_run_killed_in_its_first_milliseconds_is_shown_dead_and_repairable(mlflow_env, tmp_path):
    """SIGKILL as soon as the run folder exists: `runs list` shows DEAD (not UNKNOWN), repair ends it KILLED."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: echo\n")
    proc = _start(mlflow_env, spec)
    deadline = time.monotonic() + 240
    while not (_root(mlflow_env) / "runs").is_dir() or not any((_root(mlflow_env) / "runs").iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.001)
    _kill(proc)
    run_dir = _runs(mlflow_env)[0]
    os.utime(run_dir, (time.time() - 60, time.time() - 60))  # a folder without a summary counts once it is old
    listed = json.loads(run_cli(["runs", "list", "--json"], mlflow_env).stdout)[0]
    assert listed["display_status"] == "DEAD"
    repaired = run_cli(["runs", "repair"], mlflow_env)
    assert repaired.returncode == 0 and "KILLED on disk" in repaired.stdout, repaired.stdout + repaired.stderr
    assert read_summary(run_dir)["status"] == "KILLED"
    tracked = _tracked(mlflow_env, run_dir)
    assert [r.info.status for r in tracked] in ([], ["KILLED"])  # KILLED there too, if it got that far


def test_a_folder_with_only_logs_is_shown_dead_and_repairable(mlflow_env):
    """A run folder holding only logs/ (killed before its summary) is DEAD in `runs list`, and repair ends it."""
    run_dir = _root(mlflow_env) / "runs" / "20250101-000000-000-bbbbbb"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "logs" / "run.log").write_text("")
    os.utime(run_dir, (time.time() - 60, time.time() - 60))
    listed = json.loads(run_cli(["runs", "list", "--json"], mlflow_env).stdout)[0]
    assert listed["display_status"] == "DEAD"
    repaired = run_cli(["runs", "repair"], mlflow_env)
    assert repaired.returncode == 0, repaired.stderr
    assert "KILLED on disk; it never reached tracking" in repaired.stdout
    summary = read_summary(run_dir)
    assert summary["status"] == "KILLED" and summary["error"]["type"] == "ProcessDied"
    assert json.loads(run_cli(["runs", "list", "--json"], mlflow_env).stdout)[0]["display_status"] == "KILLED"


# -- 4. a kill while the final summary and report are written ------------------------------------


@pytest.mark.parametrize("closed_by", ["sync", "run"])
def test_a_run_killed_while_its_final_summary_is_written_is_closed_by_sync(mlflow_env, tmp_path, closed_by):
    """SIGKILL right after the summary says FINISHED: `core run` itself, else a bare `core sync`, ends MLflow FINISHED."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_die_finishing\ndata_spec: {steps: 5}\n")
    env = dict(mlflow_env, CORE_RUN_IN_PROCESS="1") if closed_by == "sync" else mlflow_env
    proc = _start(env, spec)
    out, err = proc.communicate(timeout=120)
    run_dir = _runs(mlflow_env)[0]
    if closed_by == "sync":  # the command was the run's process: killed with it
        assert proc.returncode == -signal.SIGKILL
        assert read_summary(run_dir)["status"] == "FINISHED"
        synced = run_cli(["sync"], mlflow_env)
        assert synced.returncode == 0, synced.stderr
    else:  # the command supervises the run's process, and ends the run as it decided
        assert proc.returncode == 0 and f"run {run_dir.name} FINISHED" in out, out + err
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "FINISHED"  # not RUNNING forever
    assert len(_metric_points(mlflow_env, tracked)) == 5
    assert read_summary(run_dir)["tracking"]["pending"] == 0
    assert "not repaired: it ended FINISHED" in run_cli(["runs", "repair", run_dir.name], mlflow_env).stdout


def _cut_journal_after(run_dir, op):
    """The journal as a kill right after its last `op` record leaves it."""
    path = run_dir / "tracking" / "journal.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if json.loads(line)["op"] == op)
    path.write_text("".join(lines[: last + 1]))
    state = json.loads((run_dir / "tracking" / "state.json").read_text())
    state.update(sent_seq=0, backend_run_id=None)  # an offline run: nothing was sent
    (run_dir / "tracking" / "state.json").write_text(json.dumps(state))


def test_a_run_killed_after_journaling_its_outcome_is_repaired_with_that_status(mlflow_env, tmp_path):
    """Killed between the journaled outcome and the summary: repair ends it FINISHED everywhere, not KILLED."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_steps\ndata_spec: {steps: 20}\n")
    assert run_cli(["run", str(spec), "--offline"], mlflow_env).returncode == 0
    run_dir = _runs(mlflow_env)[0]
    _cut_journal_after(run_dir, "outcome")
    summary = read_summary(run_dir)
    assert summary["outputs"] == {"steps": 20}
    # as written at the start: no outputs yet, and a dead pid
    summary.update(status="RUNNING", ended_at=None, pid=2**22 + 7, outputs={})
    (run_dir / "summary" / "run_summary.json").write_text(json.dumps(summary))
    assert json.loads(run_cli(["runs", "list", "--json"], mlflow_env).stdout)[0]["display_status"] == "DEAD"
    repaired = run_cli(["runs", "repair"], mlflow_env)
    assert repaired.returncode == 0, repaired.stderr
    assert "FINISHED on disk and in tracking" in repaired.stdout
    assert read_summary(run_dir)["status"] == "FINISHED" and read_summary(run_dir)["error"] is None
    assert read_summary(run_dir)["outputs"] == {"steps": 20}  # journaled with the outcome, not lost
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "FINISHED" and len(_metric_points(mlflow_env, tracked)) == 20


def test_a_finished_summary_whose_end_was_never_journaled_is_closed_by_repair(mlflow_env, tmp_path):
    """Summary FINISHED, journal without its end call: bare `core runs repair` picks it and ends MLflow FINISHED."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_steps\ndata_spec: {steps: 20}\n")
    assert run_cli(["run", str(spec), "--offline"], mlflow_env).returncode == 0
    run_dir = _runs(mlflow_env)[0]
    _cut_journal_after(run_dir, "artifact")
    repaired = run_cli(["runs", "repair"], mlflow_env)
    assert repaired.returncode == 0, repaired.stderr
    assert "FINISHED on disk and in tracking" in repaired.stdout
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "FINISHED" and len(_metric_points(mlflow_env, tracked)) == 20
    assert read_summary(run_dir)["status"] == "FINISHED"


def test_repair_of_an_ended_run_whose_end_call_was_never_acknowledged_sends_it(mlflow_env, tmp_path):
    """`core runs repair <id>` of an ended run whose end call tracking never acknowledged sends it: MLflow agrees."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_steps\ndata_spec: {steps: 20}\n")
    assert run_cli(["run", str(spec), "--offline"], mlflow_env).returncode == 0  # journaled, nothing sent
    run_dir = _runs(mlflow_env)[0]
    repaired = run_cli(["runs", "repair", run_dir.name], mlflow_env)
    assert repaired.returncode == 0, repaired.stderr
    assert "FINISHED on disk and in tracking" in repaired.stdout
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "FINISHED" and len(_metric_points(mlflow_env, tracked)) == 20
    assert "not repaired: it ended FINISHED" in run_cli(["runs", "repair", run_dir.name], mlflow_env).stdout

# -- 10. a killed `core sync` leaves the summary stale -------------------------------------------


def test_sync_brings_a_stale_summary_up_to_date_when_nothing_is_pending(mlflow_env, tmp_path):
    """Every call acknowledged but the summary says pending/no run (a sync killed before it said so): sync fixes it."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_steps\ndata_spec: {steps: 10}\n")
    assert run_cli(["run", str(spec), "--offline"], mlflow_env).returncode == 0
    run_dir = _runs(mlflow_env)[0]
    stale = read_summary(run_dir)  # what the summary said before the sync that was killed
    assert run_cli(["sync"], mlflow_env).returncode == 0
    (run_dir / "summary" / "run_summary.json").write_text(json.dumps(stale))
    assert stale["tracking"]["pending"] > 0 and stale["tracking"]["run_id"] is None
    synced = run_cli(["sync"], mlflow_env)
    assert synced.returncode == 0 and run_dir.name in synced.stdout, synced.stdout
    summary = read_summary(run_dir)
    assert summary["tracking"]["pending"] == 0
    assert summary["tracking"]["run_id"] == _only_tracked(mlflow_env, run_dir).info.run_id
    assert run_cli(["sync"], mlflow_env).stdout.startswith("nothing to sync")


# -- 6. a signal in the first milliseconds, or while finishing -----------------------------------


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
@pytest.mark.parametrize("when", ["setup", "finishing"])
def test_a_signal_before_the_plugin_runs_or_while_it_finishes_ends_the_run_killed(mlflow_env, tmp_path, when, sig,
                                                                                 code):
    """A SIGINT/SIGTERM right after the folder exists, or after the plugin returned: KILLED everywhere, exit 130/143."""
    spec = write_spec(tmp_path / "s.yaml", f"plugin: ext_signal_self\ndata_spec: {{when: {when}, signal: {sig}, "
                                           "seconds: 1}\n")
    proc = run_cli(["run", str(spec), "--json"], mlflow_env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    run_dir = _runs(mlflow_env)[0]
    summary = read_summary(run_dir)
    assert summary["status"] == "KILLED" and summary["error"]["message"] == f"interrupted by {sig}"
    assert f"run {run_dir.name} KILLED (interrupted by {sig})" in proc.stderr
    assert run_cli(["sync"], mlflow_env).returncode == 0  # what the interrupted run had no time to send
    assert _only_tracked(mlflow_env, run_dir).info.status == "KILLED"
    assert read_summary(run_dir)["status"] == "KILLED"


def test_a_signal_once_the_outcome_is_journaled_leaves_a_finished_run_and_exit_0(mlflow_env, tmp_path):
    """A SIGTERM while the final summary is written (outcome journaled): FINISHED everywhere, exit 0, and it says so."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_signal_self\ndata_spec: {when: recorded, signal: SIGTERM, "
                                           "seconds: 0}\n")
    proc = run_cli(["run", str(spec)], mlflow_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = _runs(mlflow_env)[0]
    assert read_summary(run_dir)["status"] == "FINISHED"
    assert f"SIGTERM arrived after run {run_dir.name} had ended FINISHED: its record stands" in proc.stderr
    assert _only_tracked(mlflow_env, run_dir).info.status == "FINISHED"


# -- 8. a plugin that ends its own process --------------------------------------------------------


@pytest.mark.parametrize("data_spec, cause", [("{code: 0}", "exited with code 0"), ("{code: 3}", "exited with code 3"),
                                              ("{how: sigkill}", "killed by SIGKILL")],
                         ids=["os._exit(0)", "os._exit(3)", "sigkill"])
def test_a_plugin_ending_its_own_process_makes_core_run_exit_1_with_the_run_killed(mlflow_env, tmp_path, data_spec,
                                                                                   cause):
    """`os._exit(0)` (or a SIGKILL) inside a plugin: `core run` exits 1 and says KILLED; summary and MLflow agree."""
    spec = write_spec(tmp_path / "s.yaml", f"plugin: ext_exit\ndata_spec: {data_spec}\n")
    proc = run_cli(["run", str(spec), "--json"], mlflow_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    printed = json.loads(proc.stdout)  # one JSON object, as for any run
    assert printed["status"] == "KILLED" and cause in printed["error"] and printed["exit_code"] == 1
    run_dir = _runs(mlflow_env)[0]
    summary = read_summary(run_dir)
    assert summary["status"] == "KILLED" and summary["error"]["type"] == "ProcessDied"
    assert cause in summary["error"]["message"]
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "KILLED" and len(_metric_points(mlflow_env, tracked)) == 3
    assert json.loads(run_cli(["runs", "list", "--json"], mlflow_env).stdout)[0]["display_status"] == "KILLED"


# -- 9. the disk fills while the run journals ----------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB file system (tmpfs; needs root), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small file system needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_disk_that_fills_while_journaling_fails_the_run_with_its_cause_everywhere(mlflow_env, tmp_path, small_disk):
    """ENOSPC while journaling: exit 1, FAILED with `No space left on device` in the summary and in MLflow."""
    env = dict(mlflow_env, CORE_ARTIFACT_ROOT=str(small_disk / "artifacts"))
    store = f"sqlite:///{_root(mlflow_env) / 'mlflow' / 'mlflow.db'}"  # MLflow on a disk with room
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_fill_journal\n")
    proc = run_cli(["run", str(spec), "--tracking-uri", store], env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stdout
    run_dir = _runs(env)[0]
    summary = read_summary(run_dir)
    assert summary["status"] == "FAILED" and "No space left on device" in summary["error"]["message"]
    assert (run_dir / "tracking" / "journal.jsonl").read_bytes().endswith(b"\n")  # no half record left
    journaled = [r for r in _journal(run_dir) if r["op"] == "metric"]  # every line whole JSON
    assert len(journaled) > 1000
    tracked = _only_tracked(mlflow_env, run_dir)
    assert tracked.info.status == "FAILED"  # not RUNNING
    assert _metric_points(mlflow_env, tracked) == sorted((r["step"], r["value"]) for r in journaled)
    assert "not repaired: it ended FAILED" in run_cli(["runs", "repair", run_dir.name], env).stdout


# -- the property: concurrent commands and random kills on one root --------------------------


def _children(pid):
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.xdist_group("many_processes")  # never beside another eight-process test: it has 240 s
@pytest.mark.parametrize("seed", [20])
def test_concurrent_runs_syncs_and_repairs_with_random_kills_lose_and_duplicate_nothing(mlflow_env, tmp_path, seed):
    """Concurrent run/sync/repair with random SIGKILLs, then sync + repair: each metric once in MLflow, statuses agree."""
    rng = random.Random(seed)  # the schedule is the seed's: a failure is replayed by its seed
    started = time.monotonic()
    last_kill = started
    for wave in range(2):  # the second wave's syncs and repairs meet the first wave's dead runs
        commands = [["run", str(write_spec(tmp_path / f"s{wave}{i}.yaml", "plugin: ext_slow_steps\ndata_spec: "
                                                                           f"{{steps: {rng.randint(100, 1500)}}}\n"))]
                    + (["--offline"] if rng.random() < 0.4 else []) for i in range(5 - 2 * wave)]
        commands += [["sync"]] * (2 + wave) + [["runs", "repair"]] * (1 + wave)
        rng.shuffle(commands)
        procs, kills = [], {}
        for args in commands:  # 8 processes a wave, started over about two seconds
            time.sleep(rng.uniform(0, 0.3))
            procs.append(subprocess.Popen([sys.executable, "-m", "core", *args], env=mlflow_env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            if rng.random() < 0.6:
                kills[procs[-1]] = time.monotonic() + rng.uniform(0.5, 8.0)
        while any(p.poll() is None for p in procs):
            for proc, at in list(kills.items()):
                if time.monotonic() >= at:
                    victims = _children(proc.pid) if rng.random() < 0.5 else []  # the run's own process, or the command
                    for pid in victims or [proc.pid]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    del kills[proc]
                    last_kill = time.monotonic()
            assert time.monotonic() - started < 240, "the commands did not end"
            time.sleep(0.01)
        for proc in procs:
            err = proc.communicate()[1]
            assert "Traceback" not in err, err
    time.sleep(max(0.0, last_kill + 6 - time.monotonic()))  # a folder without a summary is DEAD once 5 s old

    for args in (["sync"], ["runs", "repair"], ["sync"]):
        final = run_cli(args, mlflow_env, timeout=300)
        assert final.returncode == 0, final.stdout + final.stderr
    for run_dir in _runs(mlflow_env):
        summary = read_summary(run_dir)
        journal = _journal(run_dir) if (run_dir / "tracking" / "journal.jsonl").exists() else []
        tracked = _tracked(mlflow_env, run_dir)
        assert summary["status"] in ("FINISHED", "KILLED"), (run_dir.name, summary["status"])
        if not any(r["op"] == "start" for r in journal):
            assert tracked == [], run_dir.name  # it never reached tracking, and nothing pretends it did
            continue
        assert len(tracked) == 1, (run_dir.name, [(r.info.run_id, r.info.status) for r in tracked])
        assert tracked[0].info.status == summary["status"], run_dir.name
        assert summary["tracking"]["pending"] == 0 and summary["tracking"]["run_id"] == tracked[0].info.run_id
        journaled = sorted((r["step"], r["value"]) for r in journal if r["op"] == "metric")
        assert _metric_points(mlflow_env, tracked[0]) == journaled, run_dir.name  # each exactly once
