"""Issue 20's adversarial pass, security, bad records and messages: hostile plugin outputs, spec tags,
YAML bombs, FIFOs and links in run folders, secrets, links out of the artifact root, corrupt records
and bad command-line values. Real `core` processes where the fault is about processes. Every test
here has its row in RELIABILITY.md ("Security, bad records and messages")."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import read_summary, run_cli, write_spec
from mlflow import MlflowClient


def strict_json(text: str):
    """Parse as a strict parser would (Node's JSON.parse): NaN and Infinity are not JSON."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _root(cli_env) -> Path:
    return Path(cli_env["CORE_ARTIFACT_ROOT"])


def _only_run_dir(cli_env) -> Path:
    runs = list((_root(cli_env) / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def _one_line_error(proc, code: int = 2) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err + proc.stdout, err
    assert len(err.splitlines()) == 1, err
    return err


def _tracked(summary):
    client = MlflowClient(summary["tracking"]["uri"])
    return client, client.get_run(summary["tracking"]["run_id"])


# -- 7: outputs JSON cannot hold, NaN and infinity --------------------------------------------------------


@pytest.mark.slow
def test_unserialisable_outputs_and_nan_leave_a_truthful_strict_json_record(mlflow_env, tmp_path):
    """A self-referencing list, an unprintable object and NaN/inf in outputs and metrics: FINISHED everywhere, strict JSON."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_hostile\ndata_spec: {do: outputs}\n")
    cli_env = mlflow_env
    proc = run_cli(["run", str(spec), "--json"], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    printed = strict_json(proc.stdout)
    assert printed["status"] == "FINISHED"
    assert printed["outputs"]["nan"] == "NaN" and printed["outputs"]["inf"] == "Infinity"
    assert printed["outputs"]["nested"] == {"ninf": ["-Infinity"]} and printed["outputs"]["ok"] == 1
    assert printed["outputs"]["loop"][:2] == [1, 2] and isinstance(printed["outputs"]["loop"][2], str)
    assert isinstance(printed["outputs"]["unprintable"], str)
    run_dir = _only_run_dir(cli_env)
    summary = strict_json((run_dir / "summary" / "run_summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["error"] is None
    assert summary["metrics"] == {"train_loss": 0.5, "val_inf": "Infinity", "val_nan": "NaN", "val_ninf": "-Infinity"}
    strict_json((run_dir / "tracking" / "state.json").read_text())
    assert (run_dir / "reports" / "report.html").is_file()
    _, tracked = _tracked(summary)
    assert tracked.info.status == "FINISHED"
    for args in (["runs", "show", run_dir.name, "--json"], ["runs", "list", "--json"]):
        shown = run_cli(args, cli_env)
        assert shown.returncode == 0, shown.stderr
        strict_json(shown.stdout)
    text = run_cli(["run", str(spec)], cli_env)
    assert text.returncode == 0 and "Traceback" not in text.stderr, text.stderr
    assert "FINISHED" in text.stdout


# -- 18: credentials --------------------------------------------------------------------------------------

SECRET_KEYS = ["token", "HF_TOKEN", "sessionToken", "session_token", "AWS_SESSION_TOKEN", "ApiToken", "api_token",
               "apiKey", "APIKey", "api-key", "X-Api-Key", "api_key", "data.api_key", "access_key", "awsAccessKey",
               "aws_secret_access_key", "client_secret", "clientSecret", "secret", "secrets", "password", "Password",
               "db.password", "PGPASSWORD", "passwd", "pwd", "passphrase", "keyPassphrase", "Authorization",
               "authorization", "auth", "auth_header", "basicAuth", "cookie", "Cookie", "set-cookie", "cookies",
               "bearer", "bearer_token", "refreshToken", "id_token", "private_key", "privateKey", "credentials",
               "gcp_credential"]
VISIBLE_KEYS = ["model.max_tokens", "tokens", "num_tokens", "tokenizer", "data.tokenizer_name", "author", "authors",
                "data.author", "seed", "train.lr", "keys", "model.key_dim", "sort_key",
                "passes", "vocab_size", "keyring_backend"]


@pytest.mark.parametrize("key, secret", [(k, True) for k in SECRET_KEYS] + [(k, False) for k in VISIBLE_KEYS])
def test_the_corpus_of_key_spellings(key, secret):
    """Credential keys in every spelling (camelCase, SCREAMING, dashed, run together) are secret; look-alikes are not."""
    from core._redact import is_secret_key

    assert is_secret_key(key) is secret


def test_one_redaction_for_values_at_any_depth_and_uris_in_any_string():
    """`redact` hides secret keys in lists of lists and strips user:password@ from every string, whatever holds it."""
    from core._redact import REDACTED, redact

    value = {"layers": [[{"api_key": "k1", "n": 1}], ({"Cookie": "c2"},)], "db": "postgresql://al:pw3@db:5432/x",
             "note": "see https://tok4@github.com/o/r and user:pw5@10.0.0.1", "empty_token": "", "ok": "a:b"}
    out = redact(value)
    assert out["layers"] == [[{"api_key": REDACTED, "n": 1}], ({"Cookie": REDACTED},)]
    assert out["db"] == "postgresql://db:5432/x" and out["ok"] == "a:b" and out["empty_token"] == ""
    assert not any(s in json.dumps(out) for s in ("k1", "c2", "pw3", "tok4", "pw5"))


LEAKS = ("tok-11", "tok-12", "tok-13", "tok-14", "tok-15", "pw-16", "pw-17", "pw-18", "pw-19", "tok-20")


@pytest.mark.slow
def test_credentials_never_reach_disk_output_or_logs(cli_env, tmp_path):
    """Credentials in params (nested in lists, camelCase keys, URIs in values), tags, outputs, the spec and an offline URI: on no file, no output."""
    spec = write_spec(tmp_path / "s.yaml", """plugin: ext_hostile
data_spec:
  do: secrets
  source: "https://alice:pw-16@data.example/x.csv"
  params:
    auth.sessionToken: tok-11
    ApiToken: tok-12
    Authorization: "Bearer tok-13"
    passphrase: tok-14
    layers: [[{api_key: tok-15}]]
    db.url: "postgresql://bob:pw-17@db/x"
  tags:
    cookie: tok-20
  outputs:
    conn: "http://carol:pw-18@host/x"
""")
    uri = "offline:http://dave:pw-19@127.0.0.1:9"
    proc = run_cli(["run", str(spec), "--json", "--tracking-uri", uri], cli_env)
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(json.loads(proc.stdout)["run_dir"])
    shown = [proc.stdout + proc.stderr]
    for args in (["runs", "show", run_dir.name], ["runs", "show", run_dir.name, "--json"], ["runs", "list", "--json"],
                 ["validate", str(spec), "--json"], ["sync", run_dir.name, "--tracking-uri", "http://eve:pw-19@127.0.0.1:9"]):
        done = run_cli(args, cli_env, timeout=180)
        shown.append(done.stdout + done.stderr)
    on_disk = "\n".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
    for secret in LEAKS:
        assert secret not in on_disk, secret
        for i, text in enumerate(shown):
            assert secret not in text, (secret, i, text)
    summary = read_summary(run_dir)
    assert summary["tracking"]["uri"] == "http://127.0.0.1:9"
    assert summary["params"]["auth.sessionToken"] == "***redacted***"


class _FakeMlflowServer:
    """Just enough of MLflow's REST API for one run, on 127.0.0.1; records every request's path."""

    def __init__(self, artifacts: Path):
        import http.server
        import threading

        self.paths: list[str] = []
        self.runs: dict[str, dict] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.paths.append(self.path)
                if "experiments/get-by-name" in self.path:
                    self._reply({"experiment": {"experiment_id": "1", "name": "mlcore", "lifecycle_stage": "active",
                                                "artifact_location": artifacts.as_uri()}})
                elif "runs/get" in self.path:
                    self._reply({"run": next(iter(server.runs.values()))})
                else:
                    self._reply({})

            def do_POST(self):
                server.paths.append(self.path)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if "runs/create" in self.path:
                    run_id = f"run{len(server.runs) + 1}"
                    info = {"run_id": run_id, "run_uuid": run_id, "experiment_id": "1", "status": "RUNNING",
                            "run_name": body.get("run_name", "x"), "start_time": body.get("start_time", 0),
                            "artifact_uri": (artifacts / run_id).as_uri(), "lifecycle_stage": "active"}
                    server.runs[run_id] = {"info": info, "data": {}}
                    self._reply({"run": server.runs[run_id]})
                elif "runs/search" in self.path:
                    self._reply({"runs": []})
                elif "runs/update" in self.path:
                    self._reply({"run_info": next(iter(server.runs.values()))["info"]})
                else:
                    self._reply({})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_mlflow_view_run_line_never_prints_credentials(cli_env, tmp_path):
    """MLflow's own "View run at http://user:pass@…" line is not printed: stdout stays one JSON object, the password nowhere."""
    server = _FakeMlflowServer(tmp_path / "served")
    try:
        env = dict(cli_env, MLFLOW_LOGGING_LEVEL="INFO")
        proc = run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n")), "--json", "--tracking-uri",
                        f"http://frank:pw-21@127.0.0.1:{server.port}"], env, timeout=180)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    printed = strict_json(proc.stdout)  # one JSON object: nothing else on stdout
    assert printed["status"] == "FINISHED" and printed["tracking"]["pending"] == 0, printed
    assert any("runs/update" in p for p in server.paths)
    assert "pw-21" not in proc.stdout + proc.stderr


# -- 13, 11, 23: specs that expand without end, reserved tags, values MLflow refuses -------------------


def test_yaml_alias_bomb_is_refused_quickly_before_any_run_folder(cli_env):
    """A 10-line YAML alias bomb (387 million values expanded) is bad input within seconds: exit 2, no run folder."""
    bomb = Path(__file__).parent / "bad_inputs" / "yaml_alias_bomb.yaml"
    started = time.monotonic()
    proc = run_cli(["run", str(bomb)], cli_env, timeout=60)
    assert "expands to more than" in _one_line_error(proc)
    assert time.monotonic() - started < 20
    assert not (_root(cli_env) / "runs").exists()


def test_the_summary_records_a_bounded_amount_of_outputs(cli_env, tmp_path):
    """Outputs of 12 MB (a 5 MB string, a million numbers) leave a summary of at most a few MB, FINISHED."""
    proc = run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: ext_hostile\ndata_spec: {do: big}\n"))],
                   cli_env)
    assert proc.returncode == 0, proc.stderr
    path = _only_run_dir(cli_env) / "summary" / "run_summary.json"
    assert path.stat().st_size < 3 * 1024 * 1024
    summary = strict_json(path.read_text())
    assert summary["status"] == "FINISHED" and summary["outputs"]["blob"].endswith("(truncated)")


@pytest.mark.parametrize("override", [
    "tags.mlflow.runName=x", "tags.mlcore.run_id=x", "tags.plugin=other", "tags.pipeline=score",
    "tags={mlflow.note.content: x}", "tags.big=" + "x" * 9000, "tags." + "k" * 251 + "=1",
    "name=" + "n" * 251, "experiment=" + "e" * 300, "experiment=a\tb",
], ids=["mlflow", "mlcore", "plugin", "pipeline", "mapping", "value-9000", "name-251", "run-name-251",
        "experiment-300", "experiment-control"])
def test_tags_and_names_mlflow_would_refuse_are_bad_input(cli_env, tmp_path, override):
    """Reserved tag names and tags, names and experiments MLflow would refuse: exit 2, one line, no run folder."""
    proc = run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n")), "--set", override], cli_env)
    _one_line_error(proc)
    assert not (_root(cli_env) / "runs").exists()


def test_core_tags_cannot_be_overwritten(cli_env, tmp_path):
    """A plugin setting `mlcore.run_id` or `plugin` is refused (FAILED, the tags kept); a spec built in Python
    naming reserved tags is bad input before any folder, as a spec file is."""
    for tag in ("mlcore.run_id", "plugin"):
        spec = write_spec(tmp_path / "s.yaml", f"plugin: ext_hostile\ndata_spec: {{do: core_tags, tag: {tag}}}\n")
        proc = run_cli(["run", str(spec), "--json"], cli_env)
        out = json.loads(proc.stdout)
        assert proc.returncode == 1 and "reserved" in out["error"], out
        journal = (Path(out["run_dir"]) / "tracking" / "journal.jsonl").read_text()
        assert "spoofed" not in journal
    from ext_pkg import Echo

    from core import RunSpec, SpecError
    from core._runner import run
    from core._tracking.fake import FakeTracking
    from core.testing import Registry

    for reserved in ("mlcore.run_id", "plugin", "mlflow.runName"):
        fake = FakeTracking()
        with pytest.raises(SpecError, match=f"field 'tags.{reserved}'.*reserved"):
            run(RunSpec(plugin="echo", tags={reserved: "spoofed", "team": "a"}),
                artifact_root=tmp_path / "api", registry=Registry({"echo": Echo}), backend=fake)
        assert not fake.runs and not (tmp_path / "api" / "runs").exists()
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="echo", tags={"team": "a"}), artifact_root=tmp_path / "api",
                  registry=Registry({"echo": Echo}), backend=fake)
    tags = fake.only_run().tags
    assert tags["mlcore.run_id"] == outcome.run_id and tags["plugin"] == "echo" and tags["team"] == "a"


# -- 12, 17: FIFOs, devices and links out of the run folder ---------------------------------------------

SECRET_TEXT = "TOP-SECRET-CONTENT-0123456789"


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text(SECRET_TEXT * 10)
    return secret


def test_fifo_and_links_in_plots_neither_hang_nor_leak_into_the_report(cli_env, tmp_path):
    """A FIFO, a link to /dev/zero and a link to a file outside in plots/: the run finishes at once; only the real plot is embedded."""
    spec = write_spec(tmp_path / "s.yaml", f"plugin: ext_hostile\ndata_spec: {{do: plots, outside: '{_outside(tmp_path)}'}}\n")
    started = time.monotonic()
    proc = run_cli(["run", str(spec)], cli_env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 30
    run_dir = _only_run_dir(cli_env)
    report = (run_dir / "reports" / "report.html").read_text()
    assert len(report) < 1_000_000 and report.count("<img class='plot'") == 1 and "plots/real.png" in report
    import base64

    assert SECRET_TEXT not in report and base64.b64encode(SECRET_TEXT.encode()).decode()[:20] not in report
    shown = run_cli(["runs", "show", run_dir.name, "--json"], cli_env, timeout=60)
    files = [f["path"] for f in json.loads(shown.stdout)["artifacts"]]
    assert "plots/real.png" in files and not {"plots/fifo.png", "plots/zero.png", "plots/outside.png"} & set(files)


@pytest.mark.slow
def test_log_artifacts_refuses_a_folder_holding_a_link_out(mlflow_env, tmp_path):
    """log_artifacts on a folder holding a link to a file outside the run folder is refused: FAILED, nothing copied."""
    spec = write_spec(tmp_path / "s.yaml", f"plugin: ext_hostile\ndata_spec: {{do: log_dir, outside: '{_outside(tmp_path)}'}}\n")
    proc = run_cli(["run", str(spec)], mlflow_env)
    assert proc.returncode == 1, proc.stderr
    summary = read_summary(_only_run_dir(mlflow_env))
    assert summary["status"] == "FAILED" and "leaves the run folder" in summary["error"]["message"]
    client, tracked = _tracked(summary)
    assert tracked.info.status == "FAILED" and client.list_artifacts(tracked.info.run_id, "data") == []


def test_log_artifact_refuses_a_fifo(cli_env, tmp_path):
    """Logging a FIFO is refused at once (it would block the copy forever): FAILED, exit 1."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_hostile\ndata_spec: {do: log_fifo}\n")
    proc = run_cli(["run", str(spec)], cli_env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    summary = read_summary(_only_run_dir(cli_env))
    assert summary["status"] == "FAILED" and "not a regular file" in summary["error"]["message"]


@pytest.mark.slow
def test_sync_copies_nothing_that_leaves_the_run_folder(mlflow_env, tmp_path):
    """Files swapped for links out after they were logged (offline) are not copied by `core sync`; the rest is."""
    secret = _outside(tmp_path)
    folder_run = json.loads(run_cli(["run", str(write_spec(tmp_path / "a.yaml", "plugin: ext_hostile\ndata_spec: {do: log_dir_ok}\n")),
                                     "--offline", "--json"], mlflow_env).stdout)
    file_run = json.loads(run_cli(["run", str(write_spec(tmp_path / "b.yaml", "plugin: echo\n")), "--offline", "--json"],
                                  mlflow_env).stdout)
    os.symlink(secret, Path(folder_run["run_dir"]) / "data" / "shadow.txt")
    logged = Path(file_run["run_dir"]) / "metrics" / "m.json"
    logged.unlink()
    os.symlink(secret, logged)
    synced = run_cli(["sync"], mlflow_env, timeout=180)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    for out, folder, expected in ((folder_run, "data", ["data/real.txt"]), (file_run, "metrics", [])):
        client, tracked = _tracked(read_summary(Path(out["run_dir"])))
        assert [a.path for a in client.list_artifacts(tracked.info.run_id, folder)] == expected
        assert tracked.info.status == "FINISHED"


def test_a_fifo_where_a_summary_belongs_does_not_hang_runs_list(cli_env, tmp_path):
    """A FIFO in place of a run's summary: `runs list` and `runs show` answer at once (UNKNOWN), the other runs listed."""
    ok = json.loads(run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n")), "--json"], cli_env).stdout)
    odd = _root(cli_env) / "runs" / "20200101-000000-000-fifo00" / "summary"
    odd.mkdir(parents=True)
    os.mkfifo(odd / "run_summary.json")
    listed = run_cli(["runs", "list", "--json"], cli_env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert {r["run_id"]: r["status"] for r in json.loads(listed.stdout)} == {ok["run_id"]: "FINISHED",
                                                                            odd.parent.name: "UNKNOWN"}
    shown = run_cli(["runs", "show", odd.parent.name], cli_env, timeout=60)
    assert shown.returncode == 0 and "UNKNOWN" in shown.stdout, shown.stderr


@pytest.mark.parametrize("which", ["journal.jsonl", "state.json"])
def test_a_fifo_in_place_of_a_journal_does_not_hang_a_named_sync(cli_env, tmp_path, which):
    """`core sync RUN_ID` on a run whose journal (or state) is a FIFO: one line naming it, exit 1, at once."""
    out = json.loads(run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n")), "--offline", "--json"],
                            cli_env).stdout)
    path = Path(out["run_dir"]) / "tracking" / which
    path.unlink()
    os.mkfifo(path)
    synced = run_cli(["sync", out["run_id"]], cli_env, timeout=60)
    assert synced.returncode == 1 and "Traceback" not in synced.stderr, synced.stderr
    assert f"tracking/{which} is not a regular file" in synced.stderr
    repaired = run_cli(["runs", "repair", out["run_id"]], cli_env, timeout=60)  # trims the journal: never opened
    assert "Traceback" not in repaired.stderr and repaired.returncode in (0, 1, 2), repaired.stderr


# -- 19: links out of the artifact root, a copied root ---------------------------------------------------


def test_a_link_out_of_the_runs_folder_is_no_run(cli_env, tmp_path):
    """A link to /etc inside runs/: not listed, not shown, not synced or repaired; the real run is."""
    ok = json.loads(run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n")), "--json"], cli_env).stdout)
    os.symlink("/etc", _root(cli_env) / "runs" / "20300101-000000-000-etc000")
    listed = run_cli(["runs", "list", "--json"], cli_env)
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [ok["run_id"]]
    shown = run_cli(["runs", "show", "20300101"], cli_env)
    assert "no run" in _one_line_error(shown) and "passwd" not in shown.stdout
    shown = run_cli(["runs", "show", ok["run_id"], "--json"], cli_env)
    assert shown.returncode == 0 and not any("passwd" in f["path"] for f in json.loads(shown.stdout)["artifacts"])
    for args in (["sync"], ["runs", "repair"]):
        done = run_cli(args, cli_env)
        assert done.returncode == 0 and "etc000" not in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.slow
def test_a_copied_artifact_root_syncs_into_its_own_store(mlflow_env, tmp_path):
    """An artifact root copied elsewhere syncs into the copy's embedded store and sends the copy's files, not the original's."""
    import shutil

    original = _root(mlflow_env)
    out = json.loads(run_cli(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n")), "--offline", "--json"],
                             mlflow_env).stdout)
    copy = tmp_path / "copied"
    shutil.copytree(original, copy, symlinks=True)
    (original / "runs" / out["run_id"] / "metrics" / "m.json").write_text('{"which": "original"}')
    synced = run_cli(["sync", "--artifact-root", str(copy)], mlflow_env, timeout=180)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    summary = read_summary(copy / "runs" / out["run_id"])
    assert summary["tracking"]["uri"] == f"sqlite:///{copy.resolve() / 'mlflow' / 'mlflow.db'}"
    client, tracked = _tracked(summary)
    assert tracked.info.status == "FINISHED" and str(copy.resolve()) in tracked.info.artifact_uri
    local = Path(client.download_artifacts(tracked.info.run_id, "metrics/m.json", str(tmp_path)))
    assert local.read_text() == "{}"
    original_store = MlflowClient(f"sqlite:///{original / 'mlflow' / 'mlflow.db'}")
    assert original_store.search_runs([e.experiment_id for e in original_store.search_experiments()]) == []


# -- 20: bad records are reported on one line and skipped ----------------------------------------------------


def _offline_runs(cli_env, tmp_path, n):
    spec = write_spec(tmp_path / "s.yaml", "plugin: echo\n")
    return [Path(json.loads(run_cli(["run", str(spec), "--offline", "--json"], cli_env).stdout)["run_dir"])
            for _ in range(n)]


@pytest.mark.slow
def test_a_corrupt_journal_or_state_does_not_stop_sync_of_the_others(mlflow_env, tmp_path):
    """One run's corrupt journal line and another's corrupt state.json: bare `core sync` says so on one line each and
    syncs the rest; the run with the corrupt line is sent around it (every other call), not skipped."""
    torn, bad_state, good = _offline_runs(mlflow_env, tmp_path, 3)
    lines = (torn / "tracking" / "journal.jsonl").read_text().splitlines(keepends=True)
    lines.insert(2, "{this is not json\n")
    lines.insert(4, '{"seq": 999, "op": "tags", "tags": {"team": "caf\udcff"}}\n')  # a byte that is not UTF-8
    (torn / "tracking" / "journal.jsonl").write_text("".join(lines), errors="surrogateescape")
    (bad_state / "tracking" / "state.json").write_text("{not json")
    synced = run_cli(["sync"], mlflow_env, timeout=180)
    out = synced.stdout + synced.stderr
    assert "Traceback" not in out and synced.returncode in (0, 1), out
    assert f"{good.name}: sent" in synced.stdout
    assert len([line for line in out.splitlines() if bad_state.name in line]) == 1, out
    assert f"{torn.name}: sent" in synced.stdout, out
    _, tracked = _tracked(read_summary(good))
    assert tracked.info.status == "FINISHED"
    assert f"{torn.name}: warning: journal line(s) 3, 5 are corrupt on disk: those calls are lost" in synced.stderr, out
    assert "journal line(s) 3, 5 corrupt on disk" in read_summary(torn)["tracking"]["last_error"]  # the record says so
    _, around = _tracked(read_summary(torn))
    assert around.info.status == "FINISHED" and around.data.tags["plugin"] == "echo"  # the rest arrived


@pytest.mark.slow
def test_a_corrupt_start_line_is_rebuilt_from_the_summary_and_the_rest_sent(mlflow_env, tmp_path):
    """The journal's first line (the start) corrupt on disk: without it no call could ever be sent (no MLflow
    run to send to). `core sync` rebuilds the start from the summary (run id, plugin, name, tags, start time)
    and sends every other call to one MLflow run; a second sync sends nothing and makes no second run."""
    (run_dir,) = _offline_runs(mlflow_env, tmp_path, 1)
    journal = run_dir / "tracking" / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    assert json.loads(lines[0])["op"] == "start"
    lines[0] = '{"seq": 1, "op": "sta\n'  # torn in the middle, mended with a newline
    journal.write_text("".join(lines))
    before = read_summary(run_dir)

    synced = run_cli(["sync"], mlflow_env, timeout=180)
    assert synced.returncode == 1 and "Traceback" not in synced.stderr, synced.stderr  # a line was lost: not clean
    assert f"{run_dir.name}: sent 1 start," in synced.stdout and "1 end" in synced.stdout, synced.stdout
    assert "journal line(s) 1 are corrupt on disk" in synced.stderr and "start was rebuilt" in synced.stderr
    summary = read_summary(run_dir)
    assert summary["tracking"]["pending"] == 0 and summary["tracking"]["run_id"]
    client, tracked = _tracked(summary)
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == run_dir.name
    assert tracked.data.tags["plugin"] == "echo" and tracked.data.tags["mlcore.run_id"] == run_dir.name
    assert {k: v for k, v in tracked.data.tags.items() if not k.startswith("mlflow.")} == before["tags"]
    assert tracked.data.params == {"data.n": "3", "model.type": "none"}
    assert tracked.data.metrics["train_loss"] == 0.5
    assert [a.path for a in client.list_artifacts(tracked.info.run_id)]  # the artifacts too
    assert tracked.info.start_time == int(datetime.fromisoformat(before["started_at"]).timestamp() * 1000)

    again = run_cli(["sync", run_dir.name], mlflow_env, timeout=180)
    assert f"{run_dir.name}: sent nothing" in again.stdout, again.stdout + again.stderr
    runs = client.search_runs([tracked.info.experiment_id], f"tags.`mlcore.run_id` = '{run_dir.name}'")
    assert [r.info.run_id for r in runs] == [tracked.info.run_id]


WRONG_TYPES = {"metrics": [1, 2], "started_at": 5, "params": {"a": [1]}, "plugin": {"key": 5},
               "tracking": {"pending": "many"}, "outputs": "x", "duration_s": "long", "tags": {"a": {"b": 1}}}


def test_summaries_with_wrong_types_are_unknown_not_a_traceback(cli_env, tmp_path):
    """Summaries with fields of the wrong type: UNKNOWN in `runs list` and `runs show`, a one-line reason each, the other runs as they were."""
    (good,) = _offline_runs(cli_env, tmp_path, 1)
    proper = read_summary(good)
    names = []
    for i, (field, value) in enumerate(WRONG_TYPES.items()):
        folder = _root(cli_env) / "runs" / f"20200101-000000-00{i}-wrong{i}"
        (folder / "summary").mkdir(parents=True)
        (folder / "summary" / "run_summary.json").write_text(json.dumps(proper | {"run_id": folder.name, field: value}))
        names.append(folder.name)
    listed = run_cli(["runs", "list"], cli_env)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert all(n in listed.stdout for n in names) and good.name in listed.stdout
    assert all(sum(n in line for line in listed.stderr.splitlines()) == 1 for n in names), listed.stderr
    as_json = {r["run_id"]: r["status"] for r in strict_json(run_cli(["runs", "list", "--json"], cli_env).stdout)}
    assert as_json == {good.name: "FINISHED"} | {n: "UNKNOWN" for n in names}
    for name in names:
        shown = run_cli(["runs", "show", name], cli_env)
        assert shown.returncode == 0 and "UNKNOWN" in shown.stdout and "Traceback" not in shown.stderr, shown.stderr


def _without_file_permission_override():
    """In the child (before exec): as root, give up the capabilities that ignore file modes, so mode 000 means what it says."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_unprivileged(args, env, timeout=120):
    try:
        return subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True,
                              timeout=timeout, preexec_fn=_without_file_permission_override)
    except subprocess.SubprocessError as exc:
        if "prctl" in str(exc):
            pytest.skip("cannot drop root's file-permission override here")
        raise


def test_an_unreadable_run_folder_is_reported_and_skipped(cli_env, tmp_path):
    """A mode-000 run folder: `runs list`, `runs show`, `sync` and `runs repair` report it on one line and go on with the rest."""
    locked, good = _offline_runs(cli_env, tmp_path, 2)
    locked.chmod(0)
    try:
        listed = _run_unprivileged(["runs", "list", "--json"], cli_env)
        assert listed.returncode == 0, listed.stderr
        assert {r["run_id"]: r["status"] for r in json.loads(listed.stdout)} == {locked.name: "UNKNOWN",
                                                                                good.name: "FINISHED"}
        for args in (["runs", "list"], ["runs", "show", locked.name], ["sync"], ["runs", "repair"]):
            done = _run_unprivileged(args, cli_env, timeout=180)
            out = done.stdout + done.stderr
            assert "Traceback" not in out and done.returncode in (0, 1), (args, out)
            assert sum(locked.name in line for line in out.splitlines()) <= 2, (args, out)
        synced = _run_unprivileged(["sync", good.name], cli_env)
        assert synced.returncode == 0, synced.stdout + synced.stderr
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("args", [["run", "SPEC"], ["runs", "list"], ["runs", "show", "x"], ["sync"], ["runs", "repair"],
                                  ["sweep", "SWEEP"], ["rerun", "x"]],
                         ids=lambda a: "-".join(a[:2]))
def test_an_artifact_root_in_a_symlink_loop_is_bad_input(cli_env, tmp_path, args):
    """An artifact root inside a symlink loop: every command that uses it exits 2 with one line, no traceback."""
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    env = dict(cli_env, CORE_ARTIFACT_ROOT=str(loop / "artifacts"))
    files = {"SPEC": write_spec(tmp_path / "s.yaml", "plugin: echo\n"),
             "SWEEP": write_spec(tmp_path / "w.yaml", "plugin: echo\nsweep:\n  grid: {seed: [1]}\n")}
    proc = run_cli([str(files.get(a, a)) for a in args], env)
    assert "symlink loop" in _one_line_error(proc)


# -- 21: bad command-line values ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["runs", "show", "2026*"], ["runs", "show", "*"], ["runs", "show", "[a"],
                                  ["runs", "compare", "20*", "x?"], ["runs", "list", "--since", "99999999999d"],
                                  ["runs", "list", "--since", "9" * 40 + "w"], ["runs", "list", "--since", "0001-01-01"],
                                  ["runs", "list", "--limit", "0"], ["runs", "list", "--limit", "-1"]],
                         ids=lambda a: " ".join(a[1:]))
def test_bad_runs_arguments_are_bad_input(cli_env, tmp_path, args):
    """`runs show '2026*'`, `--since 99999999999d`, `--limit 0`, `--limit -1`: exit 2 and one line (before: ValueError, OverflowError, 'no runs', the oldest dropped)."""
    _offline_runs(cli_env, tmp_path, 1)
    if args[-1] == "0001-01-01":  # a valid date long ago is no error: every run is listed
        proc = run_cli(args, cli_env)
        assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2, proc.stdout + proc.stderr
        return
    _one_line_error(run_cli(args, cli_env))


# -- 22: MLflow's own error logging --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_read_only_store_is_one_line_from_core(mlflow_env, tmp_path):
    """A read-only mlflow/ folder: the run goes on journaling and core says so in one line; none of MLflow's ERROR tracebacks."""
    store = _root(mlflow_env) / "mlflow"
    store.chmod(0o555)
    try:
        proc = _run_unprivileged(["run", str(write_spec(tmp_path / "s.yaml", "plugin: echo\n"))], mlflow_env, timeout=180)
        synced = _run_unprivileged(["sync"], mlflow_env, timeout=180)
    finally:
        store.chmod(0o755)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for done in (proc, synced):
        err = done.stderr
        assert "Traceback" not in err and "ERROR" not in err and "sqlalchemy" not in err.lower(), err
        failures = [line for line in err.splitlines() if "readonly" in line or "read-only" in line or "failed" in line]
        assert len(failures) <= 1, err
    assert "pending:" in proc.stdout and len(synced.stderr.strip().splitlines()) == 1, synced.stderr
