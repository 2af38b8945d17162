"""Issue 20's adversarial pass, security, bad records and messages: hostile plugin outputs, spec tags,
YAML bombs, FIFOs and links in run folders, secrets, links out of the artifact root, corrupt records
and bad command-line values. Real `core` processes where the fault is about processes. Every test
here has its row in RELIABILITY.md ("Security, bad records and messages")."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, write_spec
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
