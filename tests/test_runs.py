"""`core runs list|show|compare`, the HTML report every run gets, and `core rerun`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, write_spec

from core import Plugin, PluginInfo, RunResult, RunSpec, run
from core.testing import FakeTracking, Registry


class Curve(Plugin):
    info = PluginInfo(key="curve", description="Logs a loss curve from data_spec.rate")

    def run(self, spec, *, context):
        rate = float(spec.data_spec.get("rate", 0.5))
        context.tracking.log_params({"model.rate": rate, "data.n": 10})
        for step in range(1, 6):
            context.tracking.log_metrics({"train_loss": rate ** step, "val_accuracy": 1 - rate ** step}, step=step)
        context.tracking.log_metrics({"test_accuracy": 1 - rate ** 5})
        context.tracking.set_tag("purpose", spec.data_spec.get("purpose", "smoke"))
        return RunResult(outputs={"rate": rate})


class Broken(Plugin):
    info = PluginInfo(key="broken", description="Fails after a metric")

    def run(self, spec, *, context):
        context.tracking.log_metric("train_loss", 0.9, step=1)
        raise ValueError("the data had no rows")


REGISTRY = Registry({"curve": Curve, "broken": Broken})


def _make(root, plugin, **data_spec):
    return run(RunSpec(plugin=plugin, data_spec=data_spec, name=f"{plugin}-{data_spec.get('rate', '')}"),
               artifact_root=root, registry=REGISTRY, backend=FakeTracking())


@pytest.fixture
def three_runs(cli_env):
    root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    slow = _make(root, "curve", rate=0.5, purpose="smoke")
    time.sleep(0.01)
    fast = _make(root, "curve", rate=0.2, purpose="synthetic")
    time.sleep(0.01)
    failed = _make(root, "broken")
    return slow, fast, failed


def _json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_list_is_newest_first_and_filters(cli_env, three_runs):
    slow, fast, failed = three_runs
    listed = _json(run_cli(["runs", "list", "--json"], cli_env))
    assert [r["run_id"] for r in listed] == [failed.run_id, fast.run_id, slow.run_id]
    assert listed[1]["headline"] == {"test_accuracy": pytest.approx(1 - 0.2 ** 5)}
    assert listed[0]["status"] == "FAILED" and listed[0]["error"] == "ValueError: the data had no rows"
    only = lambda *args: [r["run_id"] for r in _json(run_cli(["runs", "list", "--json", *args], cli_env))]  # noqa: E731
    assert only("--plugin", "curve") == [fast.run_id, slow.run_id]
    assert only("--status", "failed") == [failed.run_id]
    assert only("--tag", "purpose=synthetic") == [fast.run_id]
    assert only("--limit", "1") == [failed.run_id]
    assert len(only("--since", "1h")) == 3 and only("--since", "2999-01-01") == []
    table = run_cli(["runs", "list"], cli_env).stdout
    assert "STATUS" in table and "FAILED" in table and "test_accuracy=0.9997" in table
    bad = run_cli(["runs", "list", "--since", "yesterday-ish"], cli_env)
    assert bad.returncode == 2 and "--since" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_list_reads_only_the_runs_it_prints(cli_env, three_runs, monkeypatch, capsys):
    """`--limit N` reads the newest summaries until N match, never the whole root (a root of thousands
    of runs lists as fast as one of ten); filters still see every run they need."""
    import core._records as records
    from core.cli import main

    read = []
    real = records.read_run
    monkeypatch.setattr(records, "read_run", lambda path: read.append(path.name) or real(path))
    root = cli_env["CORE_ARTIFACT_ROOT"]
    slow, fast, failed = three_runs
    assert main(["runs", "list", "--artifact-root", root, "--limit", "1", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [failed.run_id] == read
    read.clear()
    assert main(["runs", "list", "--artifact-root", root, "--limit", "1", "--plugin", "curve", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [fast.run_id]
    assert read == [failed.run_id, fast.run_id]


def test_show_by_prefix_with_params_metrics_files_and_error(cli_env, three_runs):
    _, fast, failed = three_runs
    shown = run_cli(["runs", "show", fast.run_id[:-3]], cli_env)
    assert shown.returncode == 0, shown.stderr
    for text in (fast.run_id, "FINISHED", "model.rate", "0.2", "test_accuracy", "purpose", "synthetic",
                 "summary/run_summary.json", "reports/report.html"):
        assert text in shown.stdout, text
    err = run_cli(["runs", "show", failed.run_id], cli_env).stdout
    assert "error: ValueError: the data had no rows" in err and "exception.txt" in err
    ambiguous = run_cli(["runs", "show", "2"], cli_env)
    assert ambiguous.returncode == 2 and "ambiguous" in ambiguous.stderr
    missing = run_cli(["runs", "show", "nope"], cli_env)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_compare_marks_the_best_and_plots(cli_env, three_runs, tmp_path):
    slow, fast, _ = three_runs
    out = _json(run_cli(["runs", "compare", slow.run_id, fast.run_id, "--json"], cli_env))
    assert out["differing_params"] == {"model.rate": ["0.5", "0.2"]}
    assert out["metrics"]["test_accuracy"]["best"] == 1  # higher is better
    assert out["metrics"]["train_loss"]["best"] == 1  # lower is better: 0.2**5 < 0.5**5
    text = run_cli(["runs", "compare", slow.run_id, fast.run_id], cli_env).stdout
    assert "model.rate" in text and "*" in text
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib: pip install 'mlcore[plot]'")
    png = tmp_path / "cmp.png"
    out = _json(run_cli(["runs", "compare", slow.run_id, fast.run_id, "--plot", "train_loss", "--output", str(png),
                         "--json"], cli_env))
    assert out["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    none = run_cli(["runs", "compare", slow.run_id, fast.run_id, "--plot", "nope"], cli_env)
    assert none.returncode == 2 and "no run logged the metric 'nope'" in none.stderr
    # a metric without steps: a bar per run, into the artifact root (never the working directory)
    (tmp_path / "cwd").mkdir()
    bars = _json(run_cli(["runs", "compare", slow.run_id, fast.run_id, "--plot", "test_accuracy", "--json"], cli_env,
                         cwd=tmp_path / "cwd"))
    expected = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "comparisons" / f"test_accuracy_{slow.run_id}_{fast.run_id}.png"
    assert bars["plot"] == str(expected) and expected.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "cwd").iterdir())


def test_every_run_gets_a_self_contained_html_report(tmp_path):
    fake = FakeTracking()
    ok = run(RunSpec(plugin="curve", data_spec={"rate": 0.5}), artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    html = (ok.run_dir / "reports" / "report.html").read_text()
    assert "FINISHED" in html and html.count("<svg") >= 2 and "model.rate" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched from outside
    assert "reports/report.html" in fake.only_run().artifacts
    failed = run(RunSpec(plugin="broken"), artifact_root=tmp_path, registry=REGISTRY, backend=FakeTracking())
    html = (failed.run_dir / "reports" / "report.html").read_text()
    assert "FAILED" in html and "the data had no rows" in html and "Traceback" in html


def test_a_killed_process_shows_dead_not_running(cli_env, tmp_path):
    spec = write_spec(tmp_path / "sleep.yaml", "plugin: ext_sleep\ndata_spec: {seconds: 120}\n")
    proc = subprocess.Popen([sys.executable, "-m", "core", "run", str(spec)], env=cli_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs"
    deadline = time.monotonic() + 240
    while not list(runs.glob("*/ready")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(runs.glob("*/ready")), "the run never got going"
    alive = _json(run_cli(["runs", "list", "--json"], cli_env))[0]
    assert alive["display_status"] == "RUNNING" and alive["alive"] is True
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    dead = _json(run_cli(["runs", "list", "--json"], cli_env))[0]
    assert dead["status"] == "RUNNING" and dead["display_status"] == "DEAD" and dead["alive"] is False
    table = run_cli(["runs", "list", "--status", "dead"], cli_env)
    assert "DEAD" in table.stdout and "process is gone" in table.stderr
    shown = run_cli(["runs", "show", dead["run_id"]], cli_env).stdout
    assert "DEAD" in shown and "train_loss" in shown  # the journaled metrics are still there


def test_rerun_of_a_non_deterministic_plugin_names_the_metric(cli_env, tmp_path):
    spec = write_spec(tmp_path / "random.yaml", "plugin: ext_random\nseed: 3\n")
    first = _json(run_cli(["run", str(spec), "--json"], cli_env))
    proc = run_cli(["rerun", first["run_id"]], cli_env)
    assert proc.returncode == 1, proc.stderr
    assert "not reproduced" in proc.stdout and "test_value" in proc.stdout
    assert "test_constant" not in proc.stdout  # the metric that did reproduce is not blamed
    assert "not deterministic under its seed" in proc.stdout
    out = _json(run_cli(["runs", "list", "--json"], cli_env))
    assert len(out) == 2


def test_rerun_of_a_deterministic_sklearn_run_reproduces(mlflow_env, tmp_path):
    pytest.importorskip("sklearn", reason="needs the sklearn extra")
    root = Path(__file__).resolve().parents[1]
    first = _json(run_cli(["run", str(root / "plugins/sklearn_classifier/examples/smoke.yaml"), "--json"], mlflow_env))
    proc = run_cli(["rerun", first["run_id"][:-2], "--json"], mlflow_env)
    out = json.loads(proc.stdout)
    assert proc.returncode == 0 and out["reproduced"] is True and out["metrics_compared"] >= 10
    assert out["environment_differences"] == {}
    from mlflow import MlflowClient

    rerun = json.loads(run_cli(["runs", "show", out["rerun"], "--json"], mlflow_env).stdout)
    assert rerun["tags"]["rerun_of"] == first["run_id"]
    client = MlflowClient(rerun["summary"]["tracking"]["uri"])
    assert client.get_run(rerun["summary"]["tracking"]["run_id"]).data.tags["rerun_of"] == first["run_id"]


def test_rerun_refuses_a_run_that_did_not_finish(cli_env, three_runs):
    proc = run_cli(["rerun", three_runs[2].run_id], cli_env)
    assert proc.returncode == 2 and "ended FAILED" in proc.stderr


CURVE_SWEEP = """plugin: ext_curve
seed: 4
tags: {team: vision}
data_spec: {epochs: 3, y: 0.7, api_key: hunter2}
sweep:
  name: curves
  metric: val_loss
  grid:
    data_spec.x: [0.1, 0.3, 0.9]
"""


def test_runs_spec_turns_a_sweeps_best_run_into_a_spec_that_reproduces_it(cli_env, tmp_path):
    """The way on from a sweep: `core runs spec BEST -o best.yaml` gives the run's own spec (the sweep's
    value in place, its seed, no links to the sweep), and `core run best.yaml` gets the same result."""
    sweep = run_cli(["sweep", str(write_spec(tmp_path / "s.yaml", CURVE_SWEEP)), "--executor", "sequential"], cli_env)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    best_line = next(line for line in sweep.stdout.splitlines() if line.startswith("best: run "))
    best_id = best_line.split()[2].rstrip(",")
    assert f"core runs spec {best_id} -o best.yaml" in best_line

    proc = run_cli(["runs", "spec", best_id[:-2], "-o", str(tmp_path / "best.yaml")], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "api_key" in proc.stderr and "put them back" in proc.stderr  # a credential is recorded redacted
    import yaml

    text = (tmp_path / "best.yaml").read_text()
    spec = yaml.safe_load(text)
    assert text.startswith(f"# the resolved spec of run {best_id} (FINISHED")
    assert spec["plugin"] == "ext_curve" and spec["seed"] == 4 and spec["tags"] == {"team": "vision"}
    assert spec["data_spec"]["x"] == 0.3 and spec["data_spec"]["epochs"] == 3
    spec["data_spec"]["api_key"] = "hunter2"
    (tmp_path / "best.yaml").write_text(yaml.safe_dump(spec))
    again = _json(run_cli(["runs", "show", _json(run_cli(["run", str(tmp_path / "best.yaml"), "--json"], cli_env))
                           ["run_id"], "--json"], cli_env))
    best = _json(run_cli(["runs", "show", best_id, "--json"], cli_env))
    assert again["metrics"]["val_loss"] == best["metrics"]["val_loss"]
    assert "mlcore.sweep" in str(best["tags"]) and "mlcore.sweep" not in str(again["tags"])


def test_runs_spec_prints_to_stdout_and_refuses_outputs_it_should_not_write(cli_env, three_runs, tmp_path):
    slow = three_runs[0]
    proc = run_cli(["runs", "spec", slow.run_id], cli_env)
    assert proc.returncode == 0 and "plugin: curve" in proc.stdout and "rate: 0.5" in proc.stdout
    bad = run_cli(["runs", "spec", slow.run_id, "-o", str(tmp_path / "best.json")], cli_env)
    assert bad.returncode == 2 and "--output" in bad.stderr and ".yaml" in bad.stderr
    assert not (tmp_path / "best.json").exists()
    sweep_file = write_spec(tmp_path / "sweep.yaml", "plugin: curve\nsweep: {grid: {data_spec.rate: [1]}}\n")
    kept = run_cli(["runs", "spec", slow.run_id, "-o", str(sweep_file)], cli_env)  # e.g. the sweep's own file
    assert kept.returncode == 2 and "exists" in kept.stderr and "--force" in kept.stderr
    assert "sweep:" in sweep_file.read_text()
    assert run_cli(["runs", "spec", slow.run_id, "-o", str(sweep_file), "--force"], cli_env).returncode == 0
    assert "sweep:" not in sweep_file.read_text()
    (tmp_path / "dir.yaml").mkdir()
    crashed = run_cli(["runs", "spec", slow.run_id, "-o", str(tmp_path / "dir.yaml"), "--force"], cli_env)
    assert crashed.returncode == 2 and "cannot write" in crashed.stderr and "Traceback" not in crashed.stderr


def test_runs_spec_and_rerun_give_non_finite_numbers_back_as_numbers(cli_env, tmp_path):
    """A config value of .inf is recorded "Infinity" (JSON has no such number): run again it must be the
    float, or the plugin refuses a string. A spec taken from a rerun is no rerun itself."""
    root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    first = _make(root, "curve", rate=0.5, limit=float("inf"), floor=[float("-inf"), float("nan")], label="Infinity!")
    proc = run_cli(["runs", "spec", first.run_id], cli_env)
    import math

    import yaml

    data = yaml.safe_load(proc.stdout)["data_spec"]
    assert data["limit"] == math.inf and data["floor"][0] == -math.inf and math.isnan(data["floor"][1])
    assert data["label"] == "Infinity!"
    rerun = _make(root, "curve", rate=0.5)
    tagged = json.loads((rerun.run_dir / "summary" / "run_summary.json").read_text())
    tagged["spec"]["tags"] = {"rerun_of": first.run_id, "team": "a"}
    (rerun.run_dir / "summary" / "run_summary.json").write_text(json.dumps(tagged))
    assert yaml.safe_load(run_cli(["runs", "spec", rerun.run_id], cli_env).stdout)["tags"] == {"team": "a"}


def test_runs_spec_and_rerun_name_every_field_the_record_cannot_give_back(cli_env):
    """A URI's credentials are removed from the record without a mark (`scrub`), unlike a secret key's
    value: the summary names every such field, so `runs spec` warns of them and `rerun` refuses them too."""
    root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    spec = RunSpec(plugin="curve", name="secret", tags={"repo": "https://alice:s3cret@example.com/r.git", "team": "a"},
                   data_spec={"rate": 0.5, "urls": ["https://u:p@h/x", "ok"], "store": {"password": "hunter2"}})
    made = run(spec, artifact_root=root, registry=REGISTRY, backend=FakeTracking())
    summary = json.loads((made.run_dir / "summary" / "run_summary.json").read_text())
    assert summary["spec_redacted"] == ["data_spec.urls.0", "data_spec.store.password", "tags.repo"]
    assert "s3cret" not in json.dumps(summary) and "hunter2" not in json.dumps(summary)
    shown = run_cli(["runs", "spec", made.run_id], cli_env)
    assert shown.returncode == 0 and "tags.repo" in shown.stderr and "data_spec.urls.0" in shown.stderr
    refused = run_cli(["rerun", made.run_id], cli_env)
    assert refused.returncode == 2 and "tags.repo" in refused.stderr
    plain = _make(root, "curve", rate=0.5)  # nothing hidden: no such field, as in summaries before it
    assert "spec_redacted" not in json.loads((plain.run_dir / "summary" / "run_summary.json").read_text())


def test_spec_redacted_is_safe_for_any_spec_and_short(cli_env):
    """Values whose `==` raises (Decimal's signalling NaN, as numpy arrays) never stop the run; a key
    that holds a URI is recorded without its credentials, named by its scrubbed self; a thousand
    hidden fields are twenty names and a count."""
    from decimal import Decimal

    root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    spec = RunSpec(plugin="curve", data_spec={"rate": 0.5, "odd": Decimal("sNaN"),
                                              "https://bob:pw@host/db": {"password": "x"},
                                              "hooks": ["https://u:p@h/x"] * 1000})
    made = run(spec, artifact_root=root, registry=REGISTRY, backend=FakeTracking())
    text = (made.run_dir / "summary" / "run_summary.json").read_text()
    summary = json.loads(text)
    assert summary["status"] == "FINISHED" and "bob" not in text and "pw@" not in text
    names = summary["spec_redacted"]
    assert names[0] == "data_spec.https://host/db" and names[1:3] == ["data_spec.hooks.0", "data_spec.hooks.1"]
    assert len(names) == 21 and names[-1] == "(and 981 more)"
    from core._summary import RunSummary

    again = RunSummary.from_json(summary).to_json()  # a rewrite (repair, sync) keeps the names and the count
    assert again["spec_redacted"] == names
    shown = run_cli(["runs", "spec", made.run_id], cli_env)
    assert shown.returncode == 0 and "bob" not in shown.stderr + shown.stdout


def test_rerun_refuses_a_spec_too_big_to_have_been_recorded_whole(cli_env):
    """A summary caps each field (`json_safe`'s budget): a spec cut short is not the one that ran, so
    `rerun` refuses it and `runs spec` says so, rather than running a shortened list."""
    root = Path(cli_env["CORE_ARTIFACT_ROOT"])
    made = run(RunSpec(plugin="curve", data_spec={"rate": 0.5, "w": list(range(300_000))}), artifact_root=root,
               registry=REGISTRY, backend=FakeTracking())
    refused = run_cli(["rerun", made.run_id], cli_env)
    assert refused.returncode == 2 and "too big to record whole (cut at data_spec.w, the last keys)" in refused.stderr
    shown = run_cli(["runs", "spec", made.run_id], cli_env)
    assert shown.returncode == 0 and "cut at data_spec.w" in shown.stderr
