"""`sweep.search`: an adaptive search with Optuna's samplers and pruners.

Runs use `ext_curve` (tests/ext_pkg): a noisy decreasing val_loss per epoch whose floor is a bowl
in x and y. The config checks run core-only; the rest skip cleanly without the optuna extra."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import statistics
from pathlib import Path

import pytest
from conftest import run_cli, write_spec

from core._errors import SpecError
from core._sweep.plan import load_sweep

HAS_OPTUNA = importlib.util.find_spec("optuna") is not None
needs_optuna = pytest.mark.skipif(not HAS_OPTUNA, reason="needs the optuna extra: pip install -e '.[optuna]'")

SEARCH = """plugin: ext_curve
seed: 1
data_spec: {{epochs: 8}}
sweep:
  name: curve
  metric: val_loss
  search:
{body}
"""
BODY = """    sampler: {sampler}
    trials: {trials}
    seed: {seed}
    startup_trials: 4
    pruner: {pruner}
    params:
      data_spec.x: {{uniform: [0, 1]{x_step}}}
      data_spec.y: {{uniform: [0, 1], step: 0.05}}
"""


def _search(tmp_path: Path, *, sampler="tpe", trials=10, seed=3,
            pruner="{type: median, startup_trials: 3, warmup_steps: 1}", name="s.yaml") -> Path:
    x_step = ", step: 0.25" if sampler == "grid" else ""
    body = BODY.format(sampler=sampler, trials=trials, seed=seed, pruner=pruner, x_step=x_step)
    return write_spec(tmp_path / name, SEARCH.format(body=body))


@pytest.mark.parametrize(("body", "field"), [
    ("    sampler: tpx\n    trials: 3\n    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search.sampler"),
    ("    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search"),
    ("    trials: 0\n    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search.trials"),
    ("    timeout: -5\n    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search.timeout"),
    ("    trials: 3\n    pruner: median_ish\n    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search.pruner.type"),
    ("    trials: 3\n    pruner: {type: hyperband, warmup_steps: 2}\n    params: {data_spec.x: {uniform: [0, 1]}}",
     "sweep.search.pruner.warmup_steps"),
    ("    trials: 3\n    params: {data_spec.x: {log_uniform: [0.1, 1], step: 0.1}}", "sweep.search.params.data_spec.x.step"),
    ("    trials: 3\n    params: {data_spec.x: {int: [1, 9], step: 0.5}}", "sweep.search.params.data_spec.x.step"),
    ("    trials: 3\n    params: {data_spec.x: {uniform: [0.0, 0.5], step: 0.7}}", "sweep.search.params.data_spec.x.step"),
    ("    trials: 3\n    params: {data_spec.x: {uniform: [0, 1], step: 0.3}}", "sweep.search.params.data_spec.x.step"),
    ("    trials: 3\n    params: {data_spec.x: {int: [16, 250], step: 16}}", "sweep.search.params.data_spec.x.step"),
    ("    trials: 3\n    params: {data_spec.x: {normal: [0, 1]}}", "sweep.search.params.data_spec.x"),
    ("    sampler: grid\n    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search.params.data_spec.x"),
    ("    trials: 3\n    pruner: percentile\n    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search.pruner.percentile"),
    ("    trials: 3\n    pruner: {type: percentile, percentile: 100}\n    params: {data_spec.x: {uniform: [0, 1]}}",
     "sweep.search.pruner.percentile"),
    ("    trials: 3\n    startup_trials: -1\n    params: {data_spec.x: {uniform: [0, 1]}}",
     "sweep.search.startup_trials"),
    ("    trials: 3\n    samplr: tpe\n    params: {data_spec.x: {uniform: [0, 1]}}", "sweep.search.samplr"),
])
def test_bad_search_settings_name_the_file_and_field(tmp_path, body, field):
    path = write_spec(tmp_path / "bad.yaml", SEARCH.format(body=body))
    with pytest.raises(SpecError) as err:
        load_sweep(path)
    text = str(err.value)
    assert text.startswith(str(path)) and f"field '{field}'" in text and "\n" not in text


def test_search_settings_are_read_with_their_defaults(tmp_path):
    path = write_spec(tmp_path / "ok.yaml", SEARCH.format(body="    timeout: 60\n    params: {data_spec.x: {int: [8, 64], step: 8}}"))
    plan = load_sweep(path)
    s = plan.search
    assert (s.sampler, s.trials, s.timeout, s.pruner, s.metric, s.mode) == ("tpe", None, 60.0, "median", "val_loss", "min")
    assert plan.runs == [] and s.params == {"data_spec.x": {"int": [8, 64], "step": 8}}
    both = SEARCH.format(body="    trials: 2\n    params: {data_spec.x: {uniform: [0, 1]}}") + "  grid: {data_spec.y: [1, 2]}\n"
    with pytest.raises(SpecError, match="sweep.grid"):
        load_sweep(write_spec(tmp_path / "both.yaml", both))


@pytest.mark.skipif(HAS_OPTUNA, reason="checks the message given without the optuna extra")
def test_without_optuna_a_search_says_what_to_install(cli_env, tmp_path):
    proc = run_cli(["sweep", str(_search(tmp_path)), "--executor", "sequential"], cli_env)
    assert proc.returncode == 2 and f'pip install -e "{Path(__file__).resolve().parents[1]}[optuna]"' in proc.stderr
    assert not (Path(cli_env["CORE_ARTIFACT_ROOT"]) / "sweeps").exists()


def _sweep_json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@needs_optuna
@pytest.mark.parametrize(("direction", "value"), [("minimize", 2.0), ("maximize", 3.0)])
def test_the_percentile_pruner_keeps_only_its_share_where_the_median_keeps_half(direction, value):
    """`{type: percentile, percentile: 25}` is Optuna's PercentilePruner: at a step, a trial outside the
    best quarter of the finished ones is cut (for either direction), where the median pruner keeps it."""
    import optuna

    from core._sweep.plan import _parse_pruner
    from core._sweep.trial import make_pruner

    def cut(pruner_spec) -> bool:
        study = optuna.create_study(direction=direction, pruner=make_pruner(*_parse_pruner(pruner_spec, "s.yaml", "p")))
        for finished in (1.0, 2.0, 3.0, 4.0):
            trial = study.ask()
            trial.report(finished, 1)
            study.tell(trial, finished)
        trial = study.ask()
        trial.report(value, 1)
        return bool(trial.should_prune())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert cut({"type": "percentile", "percentile": 25, "startup_trials": 0})  # outside the best quarter
    assert not cut({"type": "median", "startup_trials": 0})  # in the better half
    assert not cut({"type": "percentile", "percentile": 50, "startup_trials": 0})


@needs_optuna
def test_pruning_ends_bad_trials_pruned_with_their_metrics_kept_in_mlflow(mlflow_env, tmp_path):
    from mlflow import MlflowClient

    proc = run_cli(["sweep", str(_search(tmp_path, trials=10)), "--executor", "sequential", "--json"], mlflow_env,
                   timeout=300)
    out = _sweep_json(proc)
    runs = out["runs"]
    pruned = [r for r in runs if r["status"] == "PRUNED"]
    finished = [r for r in runs if r["status"] == "FINISHED"]
    assert len(runs) == 10 and pruned and finished and len(pruned) + len(finished) == 10
    assert finished[0]["rank"] == 1 and all(r["rank"] is None for r in pruned)  # pruned after the ranked ones
    root = Path(mlflow_env["CORE_ARTIFACT_ROOT"])
    client = MlflowClient(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    for row in pruned:
        summary = json.loads((Path(row["run_dir"]) / "summary" / "run_summary.json").read_text())
        got = client.get_run(summary["tracking"]["run_id"])
        step = row["pruned_step"]
        assert got.info.status == "KILLED" and got.data.tags["mlcore.pruned"] == "true"
        assert got.data.tags["mlcore.pruned_step"] == str(step) and 1 <= step < 8
        history = client.get_metric_history(got.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == list(range(1, step + 1))
        assert row["metrics"]["val_loss"] == pytest.approx(max(history, key=lambda m: m.step).value)
        assert "models" in {a.path for a in client.list_artifacts(got.info.run_id)}  # the plugin's finally ran
    parent = client.get_run(out["parent_run_id"])
    assert parent.data.metrics["sweep_pruned"] == len(pruned)
    assert parent.data.metrics["best_val_loss"] == pytest.approx(finished[0]["metrics"]["val_loss"])
    best = json.loads((Path(out["folder"]) / "search" / "best.json").read_text())
    assert float(parent.data.params["best.data_spec.x"]) == pytest.approx(finished[0]["overrides"]["data_spec.x"])
    shown = {a.path for a in client.list_artifacts(parent.info.run_id, "search")}
    assert {"search/best.json", "search/optimization_history.png"} <= shown, shown
    if importlib.util.find_spec("matplotlib") is not None:
        assert "search/param_importances.png" in shown
    assert best["best_value"] == pytest.approx(finished[0]["metrics"]["val_loss"])
    totals = json.loads((Path(out["folder"]) / "results.json").read_text())
    assert (totals["finished"], totals["pruned"], totals["not_finished"]) == (len(finished), len(pruned), 0)


@needs_optuna
def test_process_executor_prunes_and_resume_continues_the_study(cli_env, tmp_path):
    """Two workers report into the study's journal file; `--resume` with a bigger budget runs only the
    trials left, never a finished or pruned one again, and the study holds every trial once."""
    import optuna

    first = _sweep_json(run_cli(["sweep", str(_search(tmp_path, trials=8)), "--executor", "process",
                                 "--max-workers", "2", "--json"], cli_env, timeout=300))
    assert {r["status"] for r in first["runs"]} == {"FINISHED", "PRUNED"}
    more = _search(tmp_path, trials=12)
    again = _sweep_json(run_cli(["sweep", str(more), "--executor", "process", "--max-workers", "2", "--json",
                                 "--resume", first["sweep_id"]], cli_env, timeout=300))
    assert again["sweep_id"] == first["sweep_id"] and len(again["runs"]) == 12
    earlier = {r["run_id"] for r in first["runs"]}
    assert {r["run_id"] for r in again["runs"] if r.get("resumed")} == earlier
    assert len({r["run_id"] for r in again["runs"]}) == 12
    journal = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "sweeps" / first["sweep_id"] / "study.journal"
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name=first["sweep_id"], storage=optuna.storages.JournalStorage(
        JournalFileBackend(str(journal))))
    states = [t.state.name for t in study.trials]
    assert len(states) == 12 and set(states) <= {"COMPLETE", "PRUNED"}
    assert sorted(t.user_attrs["mlcore_run_id"] for t in study.trials) == sorted(r["run_id"] for r in again["runs"])
    nothing = run_cli(["sweep", str(more), "--executor", "process", "--resume", first["sweep_id"]], cli_env)
    assert nothing.returncode == 0 and "up to 0 trials" in nothing.stdout


def _best_of(tmp_path: Path, sampler: str, seed: int, trials: int = 30) -> float:
    """The search's own ask/tell on a seeded toy objective (no runs: the objective is the bowl itself)."""
    from ext_pkg.curve import floor

    from core._records import RecordStatus
    from core._sweep.search import Search
    from core._sweep.worker import JobResult, SweepJob

    folder = tmp_path / f"{sampler}-{seed}"
    folder.mkdir()
    plan = load_sweep(_search(folder, sampler=sampler, trials=trials, seed=seed, pruner="none"))
    search = Search.open(plan, folder, "toy")
    best = float("inf")

    def job(run):
        return SweepJob(run.index, run.key, run.spec.to_dict(), str(folder), "memory", run_id=f"r{run.index}")

    for made in search.jobs(job, lambda run: None):
        data = made.spec["data_spec"]
        value = floor(data["x"], data["y"])
        best = min(best, value)
        search.tell(made, JobResult(made.index, made.key, RecordStatus.FINISHED, metrics={"val_loss": value}))
    assert search.counted == trials
    return best


@needs_optuna
def test_tpe_beats_random_at_equal_trials_on_a_seeded_toy_objective(tmp_path):
    seeds = (0, 1, 2, 3)
    tpe = [_best_of(tmp_path, "tpe", s) for s in seeds]
    rnd = [_best_of(tmp_path, "random", s) for s in seeds]
    (tmp_path / "again").mkdir()
    assert _best_of(tmp_path / "again", "tpe", seeds[0]) == tpe[0]  # seeded: the same search again
    assert statistics.mean(tpe) < statistics.mean(rnd), (tpe, rnd)


@needs_optuna
@pytest.mark.parametrize("sampler", ["cmaes", "qmc", "grid"])
def test_every_sampler_asks_within_the_ranges(tmp_path, sampler):
    if sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        pytest.skip("the cmaes sampler needs the cmaes package (in the optuna extra)")
    for seed in (0,):
        assert _best_of(tmp_path, sampler, seed, trials=6) < 1.0


@needs_optuna
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra")
def test_ray_executor_prunes_through_the_study_actor(cli_env, tmp_path):
    env = dict(cli_env, RAY_DISABLE_USAGE_STATS="1", RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", CORE_PROGRESS="0")
    env.pop("RAY_ADDRESS", None)
    out = _sweep_json(run_cli(["sweep", str(_search(tmp_path, trials=8)), "--executor", "ray", "--max-workers", "2",
                               "--json"], env, timeout=400))
    statuses = [r["status"] for r in out["runs"]]
    assert len(statuses) == 8 and "PRUNED" in statuses and set(statuses) <= {"FINISHED", "PRUNED"}
    pids = {json.loads((Path(r["run_dir"]) / "summary" / "run_summary.json").read_text())["pid"] for r in out["runs"]}
    assert os.getpid() not in pids


@needs_optuna
def test_list_choices_reach_the_run_as_lists(tmp_path):
    """Optuna's choices are scalars: a list (torch_mlp's `hidden`) travels as JSON and comes back a list."""
    from core._sweep.search import Search

    body = "    trials: 4\n    seed: 1\n    params:\n      data_spec.hidden: {choice: [[32], [64, 64]]}\n"
    plan = load_sweep(write_spec(tmp_path / "h.yaml", SEARCH.format(body=body)))
    search = Search.open(plan, tmp_path, "lists")
    made = list(search.jobs(lambda run: _job(run, tmp_path), lambda run: None))
    assert len(made) == 4 and all(j.spec["data_spec"]["hidden"] in ([32], [64, 64]) for j in made)


def _job(run, folder):
    from core._sweep.worker import SweepJob

    return SweepJob(run.index, run.key, run.spec.to_dict(), str(folder), "memory", run_id=f"r{run.index}")


@needs_optuna
def test_resume_tells_the_trials_a_killed_driver_never_told_how_their_runs_ended(tmp_path):
    """The driver died after runs ended but before it told their trials: a FINISHED run's value and a
    PRUNED run count in the resumed study; a trial whose run did not end is closed FAIL, not counted,
    and its config waits to run again."""
    from core._records import RecordStatus
    from core._sweep.search import INTERRUPTED_ATTR, RETRY_ATTR, Search

    plan = load_sweep(_search(tmp_path, trials=3, pruner="none"))
    search = Search.open(plan, tmp_path, "killed")
    assert [j.run_id for j in search.jobs(lambda run: _job(run, tmp_path), lambda run: None)] == ["r0", "r1", "r2"]
    resumed = Search.open(load_sweep(_search(tmp_path, trials=3, pruner="none")), tmp_path, "killed",
                          ended={"r0": (RecordStatus.FINISHED, 0.25), "r1": (RecordStatus.PRUNED, None),
                                 "r2": (RecordStatus.FINISHED, None)})  # no value of the metric: not counted
    trials = resumed.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "FAIL", "WAITING"]
    assert trials[0].value == 0.25 and trials[2].user_attrs.get(INTERRUPTED_ATTR) is True
    assert trials[3].user_attrs[RETRY_ATTR] == 2 and trials[3].system_attrs["fixed_params"] == trials[2].params
    assert resumed.counted == 2 and resumed.left == 1


def test_a_search_resume_ends_the_runs_its_dead_driver_left_running_in_mlflow(tmp_path, embedded_store, monkeypatch):
    """`recover_search`: the sweep's runs still RUNNING in MLflow are ended KILLED (driver_lost), the
    FINISHED ones are found by core run id with their metrics, the parent run is left to the driver."""
    from types import SimpleNamespace

    from core._sweep.recover import DRIVER_LOST, recover_search
    from core._sweep.store import INDEX_TAG, SWEEP_TAG
    from core._tracking import default_target, open_backend
    from core._tracking.backend import RUN_ID_TAG, Metric

    target = default_target(embedded_store)
    backend = open_backend(target)
    try:
        def made(index, core_id):
            tags = {SWEEP_TAG: "sw-1", RUN_ID_TAG: core_id} | ({INDEX_TAG: str(index)} if index is not None else {})
            return backend.start_run(experiment="sw", run_name=core_id, tags=tags, start_time_ms=1)

        running, finished, parent = made(0, "c-running"), made(1, "c-finished"), made(None, "c-parent")
        backend.log_batch(finished, metrics=[Metric("val_loss", 0.5, 3, 2)])
        from core.contracts import RunStatus

        backend.end_run(finished, RunStatus.FINISHED, 3)
    finally:
        backend.close()
    store = SimpleNamespace(sweep_id="sw-1", held_record=lambda run_id: None,
                            save_held_summary=lambda run_id, summary: None)
    found = recover_search(target, store)
    assert found.ended == ["c-running"] and found.finished == {"c-finished": {"val_loss": 0.5}}
    from mlflow import MlflowClient

    client = MlflowClient(target.uri)
    assert client.get_run(running).info.status == "KILLED"
    assert client.get_run(running).data.tags["mlcore.failure"] == DRIVER_LOST
    assert client.get_run(parent).info.status == "RUNNING" and client.get_run(finished).info.status == "FINISHED"
    # A finished run whose folder is here needs no summary from tracking (a download per run, per resume).
    import core._sweep.recover as recover_module

    fetched = []
    monkeypatch.setattr(recover_module, "_keep_summary", lambda client, store, run_id, core_id: fetched.append(core_id))
    recover_search(target, store, on_disk={"c-finished"})
    assert fetched == []
    recover_search(target, store)
    assert fetched == ["c-finished"]


@needs_optuna
def test_a_misspelled_metric_is_said_at_the_first_trial_not_after_the_last(cli_env, tmp_path):
    """Every trial of a search whose metric no run logs would fail in the study (TPE learns nothing):
    the first FINISHED run says so, once, with the metric meant, and the search asks no more trials."""
    spec = _search(tmp_path, trials=6, pruner="none")
    proc = run_cli(["sweep", str(spec), "--executor", "sequential", "--metric", "val_los", "--json"], cli_env,
                   timeout=300)
    assert proc.returncode == 2, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if "val_los'" in line]
    assert "the search asks no more trials" in line and "did you mean 'val_loss'?" in line
    assert [r["status"] for r in json.loads(proc.stdout)["runs"]] == ["FINISHED"]
    assert "There are no complete trials" not in proc.stderr  # Optuna's raw warning from an empty plot


def test_search_flags_set_what_is_optimised_not_only_the_ranking(tmp_path):
    """`--metric val_accuracy` on a search file optimises and prunes on it, maximised by its name."""
    plan = load_sweep(_search(tmp_path), metric="val_accuracy")
    assert (plan.search.metric, plan.search.mode, plan.metric, plan.mode) == ("val_accuracy", "max",
                                                                               "val_accuracy", "max")
    plan = load_sweep(_search(tmp_path), mode="max")
    assert (plan.search.metric, plan.search.mode) == ("val_loss", "max")
    # The flags stand in for the file's fields: a file with no metric, or two that disagree, runs with --metric.
    bare = write_spec(tmp_path / "bare.yaml", _search(tmp_path).read_text().replace("  metric: val_loss\n", ""))
    with pytest.raises(SpecError, match="sweep.search.metric"):
        load_sweep(bare)
    assert (load_sweep(bare, metric="val_accuracy").search.metric, load_sweep(bare, metric="val_accuracy").mode) == (
        "val_accuracy", "max")
    two = write_spec(tmp_path / "two.yaml", _search(tmp_path).read_text().replace(
        "  search:\n", "  mode: maximize\n  search:\n    metric: test_loss\n"))
    assert (load_sweep(two, metric="val_loss", mode="min").search.metric, load_sweep(two, metric="val_loss",
                                                                                      mode="min").search.mode) == (
        "val_loss", "min")


_RUN_SWEEP_WITH_OPTIONS = """
import json, sys
from core import load_sweep, run_sweep, SweepOptions
outcome = run_sweep(load_sweep(sys.argv[1]), SweepOptions(executor="sequential", metric="train_loss"))
print(json.dumps({"metric": outcome.metric, "mode": outcome.mode, "folder": str(outcome.folder)}))
"""


@needs_optuna
def test_sweep_options_metric_sets_what_a_search_optimises_from_python(cli_env, tmp_path):
    """`core.run_sweep(plan, SweepOptions(metric=...))`, the Python twin of `--metric`: the study
    optimises it too, not only the table (the file says val_loss)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _RUN_SWEEP_WITH_OPTIONS, str(_search(tmp_path, trials=3))],
                          env=cli_env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    best = json.loads((Path(out["folder"]) / "search" / "best.json").read_text())
    assert (out["metric"], out["mode"]) == ("train_loss", "min")
    assert (best["metric"], best["mode"]) == ("train_loss", "min")
    values = [json.loads(p.read_text())["metrics"].get("train_loss")
              for p in (Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs").glob("*/summary/run_summary.json")]
    assert best["best_value"] == pytest.approx(min(v for v in values if v is not None))


def test_sweep_options_objective_is_checked(tmp_path):
    from core._errors import BadInput
    from core._sweep.plan import with_objective

    plan = load_sweep(_search(tmp_path))
    assert with_objective(plan) is plan and with_objective(plan, "val_loss", "min") is plan
    with pytest.raises(BadInput, match="--mode: must be 'max' or 'min'"):
        with_objective(plan, mode="maximize")
    with pytest.raises(BadInput, match="--metric: must be a metric name"):
        with_objective(plan, metric="")


@needs_optuna
@pytest.mark.parametrize("flags", [{"metric": "val_accuracy"}, {"mode": "max"}])
def test_a_resumed_study_keeps_its_objective(tmp_path, flags):
    """Another metric or direction on `--resume` would be compared with the study's trials by the
    sampler and the pruner (Optuna loads the stored direction whatever is asked): refused."""
    from core._errors import BadInput
    from core._sweep.search import Search

    Search.open(load_sweep(_search(tmp_path)), tmp_path, "s")
    Search.open(load_sweep(_search(tmp_path)), tmp_path, "s")  # the same objective: resumes
    with pytest.raises(BadInput, match=r"optimises val_loss \(min\); the sweep now asks"):
        Search.open(load_sweep(_search(tmp_path), **flags), tmp_path, "s")


@needs_optuna
def test_a_resume_runs_the_configs_a_stop_interrupted_again_first(tmp_path):
    """A trial a stop interrupted is not counted; its config is asked first on `--resume` (as a grid
    sweep reruns what did not finish), once however often the sweep is resumed."""
    from core._records import RecordStatus
    from core._sweep.search import Search
    from core._sweep.worker import JobResult, SweepJob

    plan = load_sweep(_search(tmp_path, trials=4, pruner="none"))

    def job(run):
        return SweepJob(run.index, run.key, run.spec.to_dict(), str(tmp_path), "memory", run_id=f"r{run.index}")

    search = Search.open(plan, tmp_path, "s")
    jobs = search.jobs(job, lambda run: None)
    done, stopped = next(jobs), next(jobs)
    search.tell(done, JobResult(done.index, done.key, RecordStatus.FINISHED, metrics={"val_loss": 0.5}))
    search.tell(stopped, JobResult(stopped.index, stopped.key, RecordStatus.KILLED), interrupted=True)
    Search.open(plan, tmp_path, "s")  # a resume that asked nothing: the retry waits for the next
    again = Search.open(plan, tmp_path, "s")
    assert again.left == 3
    retry = next(again.jobs(job, lambda run: None))
    assert retry.spec["data_spec"] == stopped.spec["data_spec"] and retry.index not in (done.index, stopped.index)
    waiting = [t for t in again.study.trials if t.state.name == "WAITING"]
    assert waiting == []  # enqueued once, not once per resume


def _ended(search, job, status, **metrics):
    from core._sweep.worker import JobResult

    search.tell(job, JobResult(job.index, job.key, status, run_id=job.run_id, metrics=metrics),
                interrupted=status.name == "KILLED")


@needs_optuna
def test_an_interrupted_config_the_file_no_longer_holds_is_not_run_again(tmp_path):
    from core._records import RecordStatus
    from core._sweep.search import Search

    search = Search.open(load_sweep(_search(tmp_path, trials=4, pruner="none", sampler="random")), tmp_path, "s")
    jobs = search.jobs(lambda run: _job(run, tmp_path), lambda run: None)
    while True:  # an interrupted trial whose x the narrowed range below leaves out
        job = next(jobs)
        if job.spec["data_spec"]["x"] > 0.5:
            break
        _ended(search, job, RecordStatus.FINISHED, val_loss=1.0)
    _ended(search, job, RecordStatus.KILLED)
    narrowed = _search(tmp_path, trials=4, pruner="none", sampler="random").read_text().replace(
        "data_spec.x: {uniform: [0, 1]}", "data_spec.x: {uniform: [0, 0.5]}")
    again = Search.open(load_sweep(write_spec(tmp_path / "s.yaml", narrowed)), tmp_path, "s")
    assert [t for t in again.study.trials if t.state.name == "WAITING"] == []


@needs_optuna
def test_a_grid_search_reruns_an_interrupted_point_and_its_last_tell_is_quiet(tmp_path):
    """Optuna's GridSampler counts a FAIL as visited (the point would never run again) and calls
    `study.stop()` after the last point, which raises outside `optimize`: neither here."""
    from core._records import RecordStatus
    from core._sweep.search import Search

    grid = SEARCH.format(body="    sampler: grid\n    trials: 10\n    pruner: none\n    params:\n"
                              "      data_spec.x: {choice: [0.1, 0.2, 0.3]}\n      data_spec.y: {choice: [0.5]}\n")

    def grid_search():
        return Search.open(load_sweep(write_spec(tmp_path / "g.yaml", grid)), tmp_path, "g")

    search = grid_search()
    jobs = []
    for job in search.jobs(lambda run: _job(run, tmp_path), lambda run: None):  # each told as it ends
        jobs.append(job)
        _ended(search, job, RecordStatus.KILLED if len(jobs) == 3 else RecordStatus.FINISHED, val_loss=0.5)
    assert len(jobs) == 3  # the last point was interrupted: to Optuna, the grid is done
    again = grid_search()
    ran = [j.spec["data_spec"] for j in again.jobs(lambda run: _job(run, tmp_path), lambda run: None)
           if not _ended(again, j, RecordStatus.FINISHED, val_loss=0.4)]  # the last tell raises nothing
    assert ran == [jobs[2].spec["data_spec"]]
    assert list(grid_search().jobs(lambda run: _job(run, tmp_path), lambda run: None)) == []  # done now


@needs_optuna
def test_a_run_that_logs_the_metric_after_a_blind_one_clears_the_stop(tmp_path):
    """A run asked before the stop (two workers) that does log the metric: the metric was right."""
    from core._records import RecordStatus
    from core._sweep.search import Search

    search = Search.open(load_sweep(_search(tmp_path, trials=6, pruner="none")), tmp_path, "b")
    jobs = search.jobs(lambda run: _job(run, tmp_path), lambda run: None)
    blind, other = next(jobs), next(jobs)
    _ended(search, blind, RecordStatus.FINISHED, other=1.0)
    assert search.blind_run == blind.run_id and list(jobs) == []
    _ended(search, other, RecordStatus.FINISHED, val_loss=0.3)
    assert search.blind_run is None


@needs_optuna
def test_a_resumed_seeded_search_does_not_draw_its_first_configs_again(tmp_path):
    from core._records import RecordStatus
    from core._sweep.search import Search

    def opened():
        return Search.open(load_sweep(_search(tmp_path, trials=4, pruner="none", sampler="random")), tmp_path, "r")

    search = opened()
    first = list(itertools.islice(search.jobs(lambda run: _job(run, tmp_path), lambda run: None), 2))
    for job in first:
        _ended(search, job, RecordStatus.FINISHED, val_loss=1.0)
    resumed = opened()
    later = [j.spec["data_spec"] for j in resumed.jobs(lambda run: _job(run, tmp_path), lambda run: None)]
    assert later and all(spec not in [j.spec["data_spec"] for j in first] for spec in later)


def test_trials_from_the_command_line(tmp_path):
    """`--trials N` over `search.trials` (a shorter try, or a longer resume); refused for a grid sweep."""
    from core._errors import BadInput

    assert load_sweep(_search(tmp_path, trials=10), trials=3).search.trials == 3
    with pytest.raises(BadInput, match=r"--trials: must be a positive number of trials, got 0"):
        load_sweep(_search(tmp_path), trials=0)
    grid = write_spec(tmp_path / "g.yaml", "plugin: ext_curve\ndata_spec: {epochs: 2}\nsweep:\n  grid: {data_spec.x: [0.1]}\n")
    with pytest.raises(BadInput, match=r"--trials: .*g.yaml is not a search"):
        load_sweep(grid, trials=3)
