"""Carry out a sweep: its folder, its parent MLflow run, the executor, every result reported as
it arrives, the ranked table (printed, and written as JSON and CSV), and resume.

Layout: `<artifact root>/sweeps/<sweep id>/` holds `plan.json` (the expanded runs),
`state.json` (parent run, tracking URI), `results.json` and `results.csv`. Each run is an
ordinary run folder under `runs/`, tagged `mlcore.sweep_id`, `mlcore.sweep_index` and
`mlflow.parentRunId`; the table is rebuilt from those folders, so it tells what is on disk.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from core._errors import EXIT_INTERRUPTED, EXIT_TERMINATED, BadInput, RunInterrupted
from core._progress import ProgressBar
from core._records import RecordStatus, list_runs, lower_is_better, read_run
from core._redact import redact_mapping
from core._settings import artifact_root as resolve_root
from core._settings import tracking_uri as resolve_uri
from core._signals import interrupts_as_exceptions
from core._summary import iso
from core._sweep.executors import make_executor
from core._sweep.plan import PlannedRun, SweepPlan
from core._tracking import DEFAULT_EXPERIMENT, open_backend, prepare_experiment, public_uri, resolve_target
from core._tracking.backend import Metric
from core._tracking.journal import atomic_write_json
from core.contracts import RunStatus

SWEEPS_DIR = "sweeps"
SWEEP_TAG, INDEX_TAG, PARENT_TAG = "mlcore.sweep_id", "mlcore.sweep_index", "mlflow.parentRunId"
LOCAL_URI_SCHEMES = ("sqlite", "file", "memory")


@dataclass
class SweepOutcome:
    sweep_id: str
    folder: Path
    rows: list[dict[str, Any]]
    metric: str | None
    mode: str | None
    interrupt: str | None = None
    skipped: int = 0
    startup_s: float = 0.0
    elapsed_s: float = 0.0
    parent_run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "FINISHED"]

    @property
    def exit_code(self) -> int:
        if self.interrupt == "SIGTERM":
            return EXIT_TERMINATED
        if self.interrupt:
            return EXIT_INTERRUPTED
        return 1 if self.failed else 0


def run_sweep(plan: SweepPlan, *, executor: str = "process", max_workers: int | None = None,
              ray_address: str | None = None, artifact_root: str | None = None, tracking_uri: str | None = None,
              metric: str | None = None, mode: str | None = None, resume: str | None = None,
              out: TextIO = sys.stdout) -> SweepOutcome:

    runner = make_executor(executor, max_workers=max_workers, ray_address=ray_address)
    root = resolve_root(artifact_root).resolve()
    # Workers start importing now, in parallel with the validation and store set-up below.
    runner.warm_up(len(plan.runs), plan.runs[0].spec.to_dict(), str(root),
                   resolve_target(resolve_uri(tracking_uri), artifact_root=root).uri)
    try:
        return _run(plan, runner, executor=executor, max_workers=max_workers, ray_address=ray_address,
                    artifact_root=artifact_root, tracking_uri=tracking_uri, metric=metric, mode=mode, resume=resume,
                    out=out)
    finally:
        runner.close()


def _run(plan: SweepPlan, runner, *, executor, max_workers, ray_address, artifact_root, tracking_uri, metric,  # noqa: ANN001
         mode, resume, out) -> SweepOutcome:
    # Every run's config is checked before any starts.
    runner.validate([(p.spec.to_dict(), f"{plan.source} (run {p.index}: {_short(p.overrides)})") for p in plan.runs])
    root = resolve_root(artifact_root).resolve()
    target = resolve_target(resolve_uri(tracking_uri), artifact_root=root)
    if executor == "ray" and ray_address and not _is_local_address(ray_address):
        scheme = target.uri.split(":", 1)[0]
        if scheme in LOCAL_URI_SCHEMES:
            raise BadInput(f"tracking URI '{public_uri(target.uri)}' is local to this machine; a remote Ray cluster's "
                           "workers cannot write to it: pass --tracking-uri http://<mlflow server reachable from the "
                           "cluster> and an --artifact-root on storage every node mounts")
    metric = metric or plan.metric
    mode = mode or plan.mode or (("min" if lower_is_better(metric) else "max") if metric else None)
    folder, state, previous = _open_folder(root, plan, resume)
    experiment = plan.runs[0].spec.experiment or DEFAULT_EXPERIMENT
    backend, parent = _parent_run(target, experiment, plan, state, out)
    atomic_write_json(folder / "state.json", state | {"parent_run_id": parent, "tracking_uri": public_uri(target.uri)})
    done_keys = {r["key"]: r for r in previous if r.get("status") == "FINISHED"}
    if resume:
        done_keys |= _finished_on_disk(root, folder, state["sweep_id"], done_keys)
    todo = [p for p in plan.runs if p.key not in done_keys]
    stop_file = folder / "stopping"
    stop_file.unlink(missing_ok=True)  # a resumed sweep starts afresh
    jobs = [_job(p, state["sweep_id"], parent, root, target.uri) | {"stop_file": str(stop_file)} for p in todo]
    atomic_write_json(folder / "plan.json", {"sweep_id": state["sweep_id"], "source": plan.source,
                                             "runs": [{"index": p.index, "key": p.key,
                                                       "overrides": redact_mapping(p.overrides),
                                                       "spec": redact_mapping(p.spec.to_dict())} for p in plan.runs]})
    if done_keys:
        print(f"resuming sweep {state['sweep_id']}: {len(plan.runs) - len(todo)} of {len(plan.runs)} runs already "
              f"FINISHED, running {len(todo)}", file=out)
    else:
        print(f"sweep {state['sweep_id']}: {len(jobs)} runs, executor {executor}"
              + (f" ({max_workers} workers)" if max_workers and executor != "sequential" else ""), file=out)

    results: dict[int, dict[str, Any]] = {}
    interrupt = None
    started = time.perf_counter()
    try:
        with interrupts_as_exceptions(), ProgressBar(len(jobs), desc=f"sweep {plan.name}") as bar:
            try:
                for row in runner.submit_all(jobs):
                    results[row["index"]] = row
                    _announce(row, plan.runs[row["index"]], len(results), len(jobs), metric, bar, out)
                    failed = sum(1 for r in results.values() if r["status"] != "FINISHED")
                    bar.update(1, running=runner.running(), failed=failed)
            except KeyboardInterrupt:
                interrupt = "SIGINT"
            except RunInterrupted:
                interrupt = "SIGTERM"
            if interrupt:
                bar.write(f"{interrupt}: stopping the sweep; running runs end KILLED, no new run starts", sys.stderr)
                stop_file.touch()
                runner.stop()
    except KeyboardInterrupt:
        interrupt = interrupt or "SIGINT"
    finally:
        runner.close()  # waits for the runs told to stop: their records are complete before the table
    elapsed = time.perf_counter() - started
    rows = _reconcile(plan, state["sweep_id"], root, results, done_keys)
    outcome = SweepOutcome(state["sweep_id"], folder, _rank(rows, metric, mode), metric, mode, interrupt,
                           skipped=len(done_keys), startup_s=runner.startup_s, elapsed_s=elapsed, parent_run_id=parent)
    _write_results(outcome, executor)
    _finish_parent(backend, parent, outcome)
    return outcome


def _open_folder(root: Path, plan: SweepPlan, resume: str | None) -> tuple[Path, dict, list[dict]]:
    base = root / SWEEPS_DIR
    if resume:
        if resume == "latest":
            found = sorted(p for p in base.glob(f"{plan.name}-*") if (p / "state.json").is_file()) if base.is_dir() else []
            if not found:
                raise BadInput(f"--resume: no earlier sweep named '{plan.name}' in {base}")
            folder = found[-1]
        else:
            folder = base / resume
            if not (folder / "state.json").is_file():
                raise BadInput(f"--resume: no sweep '{resume}' in {base}")
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        results = folder / "results.json"
        previous = json.loads(results.read_text(encoding="utf-8"))["runs"] if results.is_file() else []
        return folder, state, previous
    now = datetime.now(timezone.utc)
    sweep_id = f"{plan.name}-{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
    folder = base / sweep_id
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise BadInput(f"cannot create the sweep folder in artifact root '{root}': {exc.strerror}") from None
    return folder, {"sweep_id": sweep_id, "name": plan.name, "created_at": iso(now), "source": plan.source}, []


def _finished_on_disk(root: Path, folder: Path, sweep_id: str, known: dict[str, dict]) -> dict[str, dict]:
    """Runs of the sweep that FINISHED but never reached its results.json (the driver was killed
    mid-sweep): found by their sweep tags, matched to specs through the earlier plan.json."""
    plan_file = folder / "plan.json"
    if not plan_file.is_file():
        return {}
    key_of = {r["index"]: r["key"] for r in json.loads(plan_file.read_text(encoding="utf-8"))["runs"]}
    found = {}
    for index, record in _sweep_runs(root, sweep_id):
        key = key_of.get(index)
        if record.status is RecordStatus.FINISHED and key and key not in known and key not in found:
            found[key] = {"key": key, "run_id": record.run_id, "status": "FINISHED", "metrics": record.metrics,
                          "error": None, "run_dir": str(record.run_dir)}
    return found


def _sweep_runs(root: Path, sweep_id: str) -> list[tuple[int, Any]]:
    """(sweep index, run record) of every run folder tagged with this sweep, newest first."""
    found = []
    for record in list_runs(root):
        tags = record.spec_tags
        index = str(tags.get(INDEX_TAG, ""))
        if tags.get(SWEEP_TAG) == sweep_id and index.isdigit():
            found.append((int(index), record))
    return found


def _parent_run(target, experiment: str, plan: SweepPlan, state: dict, out: TextIO):  # noqa: ANN001
    """The sweep's parent MLflow run, made before any worker starts (with the store and the
    experiment, so workers never race to create them). Tracking trouble never stops a sweep."""
    if target.is_memory:
        return None, None
    try:
        backend = open_backend(target)
        prepare_experiment(backend, target, experiment)
        parent = state.get("parent_run_id")
        if not parent:
            parent = backend.start_run(experiment=experiment, run_name=state["sweep_id"],
                                       tags={SWEEP_TAG: state["sweep_id"], "mlcore.sweep_parent": "true",
                                             "plugin": plan.runs[0].spec.plugin},
                                       start_time_ms=int(time.time() * 1000))
        return backend, parent
    except Exception as exc:  # noqa: BLE001 - reported; each run journals and can be synced later
        print(f"warning: no parent MLflow run ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); runs are "
              "still tracked one by one", file=sys.stderr)
        return None, None


def _job(planned: PlannedRun, sweep_id: str, parent: str | None, root: Path, uri: str) -> dict[str, Any]:
    tags = {**planned.spec.tags, SWEEP_TAG: sweep_id, INDEX_TAG: str(planned.index)}
    if parent:
        tags[PARENT_TAG] = parent
    spec = replace(planned.spec, tags=tags)
    return {"index": planned.index, "key": planned.key, "spec": spec.to_dict(), "artifact_root": str(root),
            "tracking_uri": uri}


def _announce(row: dict, planned: PlannedRun, done: int, total: int, metric: str | None, bar: ProgressBar,
              out: TextIO) -> None:
    where = f"[{done}/{total}] run {row.get('run_id') or '?'}"
    if row["status"] == "FINISHED":
        value = row["metrics"].get(metric) if metric else None
        shown = f"  {metric}={value:.6g}" if isinstance(value, (int, float)) else ""
        bar.write(f"ok     {where}{shown}  ({_short(planned.overrides)})", out)
    else:
        first = (row.get("error") or row["status"]).strip().splitlines()[0]
        bar.write(f"{row['status']:<6} {where}: {first}  ({_short(planned.overrides)})", sys.stderr)


def _reconcile(plan: SweepPlan, sweep_id: str, root: Path, results: dict[int, dict], done: dict[str, dict]) -> list[dict]:
    """One row per planned run, from what its run folder says (the truth after a kill)."""
    on_disk: dict[int, Any] = {}
    missing = [p for p in plan.runs if p.key not in done and not (results.get(p.index) or {}).get("run_id")]
    if missing:  # interrupted or lost: find the runs by their sweep tags
        for index, record in _sweep_runs(root, sweep_id):
            on_disk.setdefault(index, record)  # newest first: the latest attempt
    rows = []
    for planned in plan.runs:
        row = {"index": planned.index, "key": planned.key, "overrides": redact_mapping(planned.overrides)}
        if planned.key in done:
            prior = done[planned.key]
            rows.append(row | {k: prior.get(k) for k in ("run_id", "status", "metrics", "error", "run_dir")}
                        | {"resumed": True})
            continue
        result = results.get(planned.index) or {}
        record = read_run(Path(result["run_dir"])) if result.get("run_dir") else on_disk.get(planned.index)
        if record is None:
            rows.append(row | {"run_id": None, "status": "NOT RUN", "metrics": {}, "error": result.get("error"),
                               "run_dir": None})
            continue
        status = record.display_status.value
        rows.append(row | {"run_id": record.run_id, "status": status, "metrics": record.metrics,
                           "error": record.error or result.get("error"), "run_dir": str(record.run_dir)})
    return rows


def _rank(rows: list[dict], metric: str | None, mode: str | None) -> list[dict]:
    if not metric:
        return rows

    def sort_key(row: dict) -> tuple:
        value = (row.get("metrics") or {}).get(metric)
        if row["status"] != "FINISHED" or not isinstance(value, (int, float)):
            return (1, 0.0, row["index"])
        return (0, -value if mode == "max" else value, row["index"])

    ranked = sorted(rows, key=sort_key)
    for rank, row in enumerate(ranked, 1):
        value = (row.get("metrics") or {}).get(metric)
        row["rank"] = rank if row["status"] == "FINISHED" and isinstance(value, (int, float)) else None
    return ranked


def _write_results(outcome: SweepOutcome, executor: str) -> None:
    summary = {"sweep_id": outcome.sweep_id, "metric": outcome.metric, "mode": outcome.mode, "executor": executor,
               "runs_total": len(outcome.rows), "finished": len(outcome.rows) - len(outcome.failed),
               "not_finished": len(outcome.failed), "interrupted": outcome.interrupt, "resumed_runs": outcome.skipped,
               "startup_s": round(outcome.startup_s, 3), "elapsed_s": round(outcome.elapsed_s, 3),
               "parent_run_id": outcome.parent_run_id, "written_at": iso(datetime.now(timezone.utc)),
               "runs": outcome.rows}
    atomic_write_json(outcome.folder / "results.json", summary)
    keys = sorted({k for row in outcome.rows for k in row["overrides"]})
    with open(outcome.folder / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "index", "run_id", "status", *keys, outcome.metric or "metric", "error"])
        for row in outcome.rows:
            value = (row.get("metrics") or {}).get(outcome.metric) if outcome.metric else None
            writer.writerow([row.get("rank"), row["index"], row["run_id"], row["status"],
                             *[json.dumps(row["overrides"].get(k)) if k in row["overrides"] else "" for k in keys],
                             "" if value is None else value, (row.get("error") or "").splitlines()[0][:300]
                             if row.get("error") else ""])


def _finish_parent(backend, parent: str | None, outcome: SweepOutcome) -> None:  # noqa: ANN001
    if backend is None or parent is None:
        return
    try:
        now = int(time.time() * 1000)
        metrics = [Metric("sweep_runs", float(len(outcome.rows)), 0, now),
                   Metric("sweep_finished", float(len(outcome.rows) - len(outcome.failed)), 0, now),
                   Metric("sweep_not_finished", float(len(outcome.failed)), 0, now)]
        best = next((r for r in outcome.rows if r.get("rank") == 1), None)
        if best and outcome.metric:
            metrics.append(Metric(f"best_{outcome.metric}", float(best["metrics"][outcome.metric]), 0, now))
        backend.log_batch(parent, metrics=metrics)
        for name in ("results.json", "results.csv", "plan.json"):
            backend.log_artifact(parent, outcome.folder / name, "sweep")
        status = (RunStatus.KILLED if outcome.interrupt else RunStatus.FAILED if outcome.failed
                  else RunStatus.FINISHED)
        backend.end_run(parent, status, now)
    except Exception as exc:  # noqa: BLE001
        print(f"warning: could not finish the parent MLflow run {parent}: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        backend.close()


def _short(overrides: dict[str, Any]) -> str:
    parts = []
    for key, value in overrides.items():
        name = key.removeprefix("data_spec.").removeprefix("model.")
        parts.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)


def _is_local_address(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return address == "auto" or host in ("127.0.0.1", "localhost", "")
