"""The sweep's page, `sweeps/<sweep id>/report.html`: written at the end of every sweep (and again on
--resume), logged to the parent MLflow run, ranked as the table is, every run linked, every value
escaped; a search's page embeds Optuna's plots."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import run_cli, write_spec

from core._records import RecordStatus
from core._sweep.page import render
from core._sweep.store import SweepState
from core._sweep.table import ResultRow, SweepOutcome

HOSTILE = "<img src=x onerror=alert(1)>"
SWEEP = f"""plugin: ext_steps
seed: 1
data_spec: {{steps: 3}}
sweep:
  name: steps
  metric: train_loss
  grid:
    data_spec.steps: [2, "{HOSTILE}", 4]
    tags.note: ["<script>alert('x')</script>"]
"""


def _section(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start:end if end != -1 else None]


def test_the_page_ranks_links_every_run_escapes_values_and_goes_to_the_parent_run(mlflow_env, tmp_path):
    from mlflow import MlflowClient

    proc = run_cli(["sweep", str(write_spec(tmp_path / "s.yaml", SWEEP)), "--executor", "sequential", "--json"],
                   mlflow_env, timeout=300)
    out = json.loads(proc.stdout)
    assert out["exit_code"] == 1, proc.stderr[-3000:]
    folder = Path(out["folder"])
    page = (folder / "report.html").read_text(encoding="utf-8")

    # ranked as the table: steps=4 (loss 0.25) first, steps=2 second, the failed run unranked last
    runs = _section(page, "Runs")
    shown = re.findall(r"<tr[^>]*><td class=num>(\d*)</td><td><a href='([^']+)'>([^<]+)</a>", runs)
    assert [(rank, run_id) for rank, _, run_id in shown] == [(str(r["rank"] or ""), r["run_id"]) for r in out["runs"]]
    assert [r["overrides"]["data_spec.steps"] for r in out["runs"]] == [4, 2, HOSTILE]
    assert "<tr class=best><td class=num>1</td>" in runs and ">0.25<" in runs
    for _, href, run_id in shown:  # each run linked to its own report, by a path relative to the page
        target = (folder / unquote(href)).resolve()
        assert target.is_file() and target.parent.parent.name == run_id, href

    # nothing a param value or an error says becomes markup
    assert "<script" not in page and HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in runs and "&lt;script&gt;" in page
    failures = _section(page, "Runs that did not end well")
    assert out["runs"][2]["run_id"] in failures and "ValueError: invalid literal" in failures
    assert "FAILED</span>1" in page.replace(" ", "") and "FINISHED</span>2" in page.replace(" ", "")
    assert "<svg" in _section(page, "Charts") and "train_loss vs steps" in page

    client = MlflowClient(f"sqlite:///{Path(mlflow_env['CORE_ARTIFACT_ROOT']) / 'mlflow' / 'mlflow.db'}")
    logged = {a.path for a in client.list_artifacts(out["parent_run_id"], "sweep")}
    assert "sweep/report.html" in logged, logged
    copy = client.download_artifacts(out["parent_run_id"], "sweep/report.html", str(tmp_path / "dl"))
    assert Path(copy).read_text(encoding="utf-8") == page


def test_the_page_is_written_again_on_a_resume_with_nothing_left_to_run(cli_env, tmp_path):
    spec = write_spec(tmp_path / "s.yaml", SWEEP.replace(f'"{HOSTILE}"', "3"))
    first = json.loads(run_cli(["sweep", str(spec), "--executor", "sequential", "--json"], cli_env,
                               timeout=300).stdout)
    page = Path(first["folder"]) / "report.html"
    assert first["exit_code"] == 0 and page.is_file()
    page.unlink()
    again = run_cli(["sweep", str(spec), "--executor", "sequential", "--resume", first["sweep_id"]], cli_env)
    assert again.returncode == 0 and "nothing left to run" in again.stdout, again.stderr
    text = page.read_text(encoding="utf-8")
    assert text.count("(earlier)") == 3 and all(r["run_id"] in text for r in first["runs"])
    assert f"page: {page}" in again.stdout


def test_render_says_what_stopped_each_run_and_draws_a_wide_range_on_a_log_axis(tmp_path):
    rows = [
        ResultRow(0, "a", {"lr": 1e-4, "kind": "x"}, "run-a", RecordStatus.FINISHED, {"val_loss": 0.2}, rank=1),
        ResultRow(1, "b", {"lr": 1e-2, "kind": "x"}, "run-b", RecordStatus.FINISHED, {"val_loss": 0.4}, rank=2),
        ResultRow(2, "c", {"lr": 3e-3, "kind": "x"}, "run-c", RecordStatus.PRUNED, {"val_loss": 0.9}, pruned_step=2),
        ResultRow(3, "d", {"lr": 5e-3, "kind": "x"}, "run-d", RecordStatus.FAILED,
                  error="RuntimeError: </td><script>alert(1)</script> at http://alice:pw@host/x\nTraceback..."),
        ResultRow(4, "e", {"lr": 7e-3, "kind": "x"}, None, RecordStatus.NOT_RUN),
    ]
    outcome = SweepOutcome("s-1", tmp_path, rows, "val_loss", "min", interrupt="SIGINT", parent_run_id="p1")
    page = render(outcome, SweepState("s-1", "s", source="s.yaml", tracking_uri="http://mlflow:5000"),
                  plugin="<b>p</b>", executor="process")
    assert "<script" not in page and "&lt;b&gt;p&lt;/b&gt;" in page and "pw@" not in page
    assert "stopped by SIGINT" in page and "--resume s-1" in page
    assert "<span class='status KILLED'>KILLED</span>" in page  # the sweep, as its parent run ends
    assert "href='http://mlflow:5000/#/runs/p1'" in page
    runs = _section(page, "Runs")
    assert "0.9 (last)" in runs and "<th>pruned at step</th>" in runs and "<th>kind</th>" not in runs
    assert "the same in every run: kind=x" in page
    assert "log10(lr)" in page and "val_loss vs lr" in page  # 1e-4 .. 1e-2: two decades
    failures = _section(page, "Runs that did not end well")
    assert "RuntimeError: &lt;/td&gt;&lt;script&gt;" in failures and "Traceback" not in failures
    assert "never started" in failures and "class='status NOT_RUN'" in failures
    assert "PRUNED" not in failures  # pruned is no failure


needs_plots = pytest.mark.skipif(
    importlib.util.find_spec("optuna") is None or importlib.util.find_spec("matplotlib") is None,
    reason="needs the optuna extra and matplotlib")


@needs_plots
def test_a_search_page_embeds_the_optuna_plots(cli_env, tmp_path):
    from test_search import _search

    proc = run_cli(["sweep", str(_search(tmp_path, trials=6)), "--executor", "sequential", "--json"], cli_env,
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    page = (Path(out["folder"]) / "report.html").read_text(encoding="utf-8")
    search = _section(page, "Search")
    assert "sampler tpe" in search and "pruner median" in search
    images = re.findall(r"<img class='plot' alt='([^']+)' src='data:image/png;base64,", search)
    assert images == ["optimization_history", "param_importances"]
    assert all(r["run_id"] in page for r in out["runs"])
    best = _section(page, "Best run")
    assert out["runs"][0]["run_id"] in best and f"{out['runs'][0]['metrics']['val_loss']:.6g}" in best
    if any(r["status"] == "PRUNED" for r in out["runs"]):
        assert "<th>pruned at step</th>" in page and "(last)" in page
