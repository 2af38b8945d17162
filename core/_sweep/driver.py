"""Carry out a sweep: check every run before any starts, open the sweep's folder (`store`) and
its parent MLflow run (`parent`), hand the jobs to an executor, stop cleanly on Ctrl-C or
SIGTERM, then build, rank and write the table (`table`) and finish the parent run.

The driver never prints: it tells its caller what happens, as it happens, through `on_event`
(the events below), and the caller decides what each looks like.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core._errors import BadInput, RunInterrupted
from core._records import RecordStatus, lower_is_better
from core._settings import artifact_root as resolve_root
from core._settings import tracking_uri as resolve_uri
from core._signals import interrupts_as_exceptions
from core._sweep.executors import Executor, ProcessExecutor, SequentialExecutor
from core._sweep.parent import ParentRun
from core._sweep.plan import PlannedRun, SweepPlan
from core._sweep.store import INDEX_TAG, PARENT_TAG, SWEEP_TAG, SweepLayout, SweepState, SweepStore
from core._sweep.table import SweepOutcome, build_rows, describe, rank
from core._sweep.worker import JobResult, SweepJob
from core._tracking import DEFAULT_EXPERIMENT, TrackingTarget, public_uri, resolve_target

LOCAL_URI_SCHEMES = ("sqlite", "file", "memory")


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep; None takes the default (the settings', or the sweep file's)."""

    executor: str = "process"
    max_workers: int | None = None
    ray_address: str | None = None
    artifact_root: str | None = None
    tracking_uri: str | None = None
    metric: str | None = None
    mode: str | None = None
    #: a sweep id, or "latest" for the newest sweep of the plan's name
    resume: str | None = None


@dataclass(frozen=True)
class SweepStarted:
    """The folder and parent run are ready; `to_run` of the `planned` runs start now. `resuming`:
    the sweep already has FINISHED runs, which are not run again."""

    sweep_id: str
    name: str
    planned: int
    to_run: int
    resuming: bool
    executor: str
    max_workers: int | None


@dataclass(frozen=True)
class RunDone:
    """One run came back: the `done`-th of `total`; `running` and `failed` so far."""

    result: JobResult
    overrides: dict[str, Any]
    done: int
    total: int
    metric: str | None
    running: int
    failed: int


@dataclass(frozen=True)
class SweepStopping:
    """`signal` (SIGINT or SIGTERM) stops the sweep: running runs are being ended, none starts."""

    signal: str


@dataclass(frozen=True)
class RunsOver:
    """No run is running any more (all came back, or were stopped); the table follows."""


@dataclass(frozen=True)
class NoParentRun:
    """The parent MLflow run could not be made; the runs are still tracked one by one."""

    error: Exception


@dataclass(frozen=True)
class ParentRunUnfinished:
    """The parent MLflow run could not be given its results or ended; the sweep's files have them."""

    run_id: str
    error: Exception


SweepEvent = SweepStarted | RunDone | SweepStopping | RunsOver | NoParentRun | ParentRunUnfinished


def run_sweep(plan: SweepPlan, options: SweepOptions, *,
              on_event: Callable[[SweepEvent], None] | None = None) -> SweepOutcome:
    """Run every planned run of `plan` (those not FINISHED already, when resuming) and return the ranked table."""
    runner = _make_executor(options)
    root = resolve_root(options.artifact_root).resolve()
    target = resolve_target(resolve_uri(options.tracking_uri), artifact_root=root)
    # Workers start importing now, in parallel with the validation and store set-up below.
    runner.warm_up(len(plan.runs), plan.runs[0].spec.to_dict(), str(root), target.uri)
    try:
        return _Sweep(plan, options, runner, root, target, on_event or _ignore).run()
    finally:
        runner.close()


def _ignore(event: SweepEvent) -> None:
    pass


def _make_executor(options: SweepOptions) -> Executor:
    if options.executor == "sequential":
        return SequentialExecutor()
    if options.executor == "process":
        return ProcessExecutor(options.max_workers)
    if options.executor == "ray":
        # Here rather than in `executors`, which `ray_executor` imports: Ray is loaded only when chosen.
        from core._sweep.ray_executor import RayExecutor

        return RayExecutor(address=options.ray_address, max_workers=options.max_workers)
    raise ValueError(f"unknown executor {options.executor!r}")  # the CLI's choices make this unreachable


@dataclass
class _Sweep:
    """One call of `run_sweep`: what its steps share, so none takes a long list of arguments."""

    plan: SweepPlan
    options: SweepOptions
    runner: Executor
    root: Path
    target: TrackingTarget
    emit: Callable[[SweepEvent], None]

    def run(self) -> SweepOutcome:
        plan, options = self.plan, self.options
        # Every run's config is checked before any starts.
        self.runner.validate([(p.spec.to_dict(), f"{plan.source} (run {p.index}: {describe(p.overrides)})")
                              for p in plan.runs])
        self._refuse_unreachable_store()
        metric = options.metric or plan.metric
        mode = options.mode or plan.mode or (("min" if lower_is_better(metric) else "max") if metric else None)
        store = SweepStore.open(self.root, plan, options.resume)
        parent = self._open_parent(store.state)
        parent_id = parent.run_id if parent else None
        store.save_state(parent_run_id=parent_id, tracking_uri=public_uri(self.target.uri))
        done = store.finished()
        store.layout.stop_file.unlink(missing_ok=True)  # a resumed sweep starts afresh
        jobs = self._jobs([p for p in plan.runs if p.key not in done], store, parent_id)
        store.save_plan(plan)
        self.emit(SweepStarted(store.sweep_id, plan.name, len(plan.runs), len(jobs), bool(done), options.executor,
                               options.max_workers))
        started = time.perf_counter()
        results, interrupt = self._execute(jobs, metric, store.layout.stop_file)
        elapsed = time.perf_counter() - started
        rows = build_rows(plan.runs, results, done, store.latest_attempts)
        outcome = SweepOutcome(store.sweep_id, store.layout.dir, rank(rows, metric, mode), metric, mode, interrupt,
                               skipped=len(done), startup_s=self.runner.startup_s, elapsed_s=elapsed,
                               parent_run_id=parent_id)
        store.save_results(outcome, options.executor)
        if parent:
            self._finish_parent(parent, outcome, store.layout)
        return outcome

    def _refuse_unreachable_store(self) -> None:
        address = self.options.ray_address
        if self.options.executor != "ray" or not address or _is_local_address(address):
            return
        if self.target.uri.split(":", 1)[0] in LOCAL_URI_SCHEMES:
            raise BadInput(f"tracking URI '{public_uri(self.target.uri)}' is local to this machine; a remote Ray "
                           "cluster's workers cannot write to it: pass --tracking-uri http://<mlflow server reachable "
                           "from the cluster> and an --artifact-root on storage every node mounts")

    def _open_parent(self, state: SweepState) -> ParentRun | None:
        if self.target.is_memory:
            return None
        experiment = self.plan.runs[0].spec.experiment or DEFAULT_EXPERIMENT
        try:
            return ParentRun.open(self.target, experiment, state, self.plan.runs[0].spec.plugin)
        except Exception as exc:  # noqa: BLE001 - tracking trouble never stops a sweep: each run journals and can be synced later
            self.emit(NoParentRun(exc))
            return None

    def _finish_parent(self, parent: ParentRun, outcome: SweepOutcome, layout: SweepLayout) -> None:
        try:
            parent.finish(outcome, [layout.results_json, layout.results_csv, layout.plan])
        except Exception as exc:  # noqa: BLE001 - the sweep's own files hold its results; only the parent run lags
            self.emit(ParentRunUnfinished(parent.run_id, exc))

    def _jobs(self, todo: list[PlannedRun], store: SweepStore, parent_id: str | None) -> list[SweepJob]:
        jobs = []
        for planned in todo:
            tags = {SWEEP_TAG: store.sweep_id, INDEX_TAG: str(planned.index)}
            if parent_id:
                tags[PARENT_TAG] = parent_id
            jobs.append(SweepJob(planned.index, planned.key, planned.spec.to_dict(), str(self.root), self.target.uri,
                                 str(store.layout.stop_file), tags=tags))
        return jobs

    def _execute(self, jobs: list[SweepJob], metric: str | None,
                 stop_file: Path) -> tuple[dict[int, JobResult], str | None]:
        """Each job's result by index, and the signal that stopped the sweep (None if none did)."""
        results: dict[int, JobResult] = {}
        interrupt = None
        try:
            with interrupts_as_exceptions():
                try:
                    try:
                        for result in self.runner.submit_all(jobs):
                            results[result.index] = result
                            failed = sum(1 for r in results.values() if r.status is not RecordStatus.FINISHED)
                            self.emit(RunDone(result, self.plan.runs[result.index].overrides, len(results), len(jobs),
                                              metric, self.runner.running(), failed))
                    except KeyboardInterrupt:
                        interrupt = "SIGINT"
                    except RunInterrupted:
                        interrupt = "SIGTERM"
                    if interrupt:
                        self.emit(SweepStopping(interrupt))
                        stop_file.touch()
                        self.runner.stop()
                finally:
                    self.emit(RunsOver())
        except KeyboardInterrupt:
            interrupt = interrupt or "SIGINT"
        finally:
            self.runner.close()  # waits for the runs told to stop: their records are complete before the table
        return results, interrupt


def _is_local_address(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return address == "auto" or host in ("127.0.0.1", "localhost", "")
