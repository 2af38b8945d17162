"""Secrets and paths: credentials never reach tracking, summaries, logs or reports; nothing a spec
or a plugin supplies makes core read or write outside the artifact root."""

import json
import socket
from pathlib import Path

import pytest
from conftest import run_cli, write_spec
from mlflow import MlflowClient

from core import InvalidTrackingValue, Plugin, PluginInfo, RunResult, RunSpec, run
from core._redact import REDACTED, is_secret_key
from core.testing import Registry

SECRETS = ("sk-live-123", "hunter2", "ghp_tok")


class Leaky(Plugin):
    info = PluginInfo(key="leaky")

    def run(self, spec, *, context):
        context.tracking.log_params({"data.api_key": "sk-live-123", "model.max_tokens": 5})
        context.tracking.set_tag("auth_token", "ghp_tok")
        context.tracking.log_metric("train_loss", 0.1)
        return RunResult()


def _files_text(run_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())


def test_credentials_are_redacted_everywhere_core_records_them(embedded_store):
    spec = RunSpec(plugin="leaky", data_spec={"db": {"password": "hunter2", "host": "db.local"}})
    outcome = run(spec, artifact_root=embedded_store, registry=Registry({"leaky": Leaky}))
    assert outcome.status.value == "FINISHED", outcome.error
    on_disk = _files_text(outcome.run_dir)  # summary, journal, run.log, report.html
    assert not any(secret in on_disk for secret in SECRETS)
    summary = outcome.summary.to_json()
    assert summary["spec"]["data_spec"]["db"] == {"password": REDACTED, "host": "db.local"}
    assert summary["params"]["data.api_key"] == REDACTED and summary["params"]["model.max_tokens"] == "5"
    tracked = MlflowClient(summary["tracking"]["uri"]).get_run(summary["tracking"]["run_id"])
    assert tracked.data.params["data.api_key"] == REDACTED and tracked.data.tags["auth_token"] == REDACTED


def test_rerun_refuses_a_spec_recorded_with_redacted_credentials(cli_env, tmp_path):
    spec = write_spec(tmp_path / "s.yaml", "plugin: echo\ndata_spec: {token: abc}\n")
    first = json.loads(run_cli(["run", str(spec), "--json"], cli_env).stdout)
    proc = run_cli(["rerun", first["run_id"]], cli_env)
    assert proc.returncode == 2 and "data_spec.token" in proc.stderr and "redacted" in proc.stderr


def test_tracking_uri_credentials_are_never_shown(cli_env, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(tmp_path / "s.yaml", "plugin: echo\n")
    proc = run_cli(["run", str(spec), "--json", "--tracking-uri", f"http://alice:s3cr3t@127.0.0.1:{port}"], cli_env,
                   timeout=180)
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(json.loads(proc.stdout)["run_dir"])
    assert "s3cr3t" not in proc.stdout + proc.stderr and "s3cr3t" not in _files_text(run_dir)


@pytest.mark.parametrize("key", ["data.api_key", "HF_TOKEN", "db.password", "client_secret", "apiKey", "auth"])
def test_secret_looking_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["model.max_tokens", "data.author", "model.tokenizer", "train.lr", "seed"])
def test_ordinary_keys_stay_visible(key):
    assert not is_secret_key(key)


def test_artifact_paths_cannot_climb_out(tmp_path):
    class Climber(Plugin):
        info = PluginInfo(key="climber")

        def run(self, spec, *, context):
            path = context.artifact_dir / "metrics" / "m.json"
            path.parent.mkdir(parents=True)
            path.write_text("{}")
            with pytest.raises(InvalidTrackingValue):
                context.tracking.log_artifact(path, artifact_path="../../outside")
            return RunResult()

    from core._tracking.fake import FakeTracking

    outcome = run(RunSpec(plugin="climber"), artifact_root=tmp_path, registry=Registry({"climber": Climber}),
                  backend=FakeTracking())
    assert outcome.status.value == "FINISHED", outcome.error


@pytest.mark.parametrize("run_id", ["../..", "../../etc", "/etc", "runs/../.."])
def test_run_ids_cannot_reach_outside_the_runs_folder(cli_env, run_id):
    proc = run_cli(["runs", "show", run_id], cli_env)
    assert proc.returncode == 2 and "no run" in proc.stderr
