"""Carry out a sweep: check every run before any starts, open the sweep's folder (`store`) and
its parent MLflow run (`parent`), hand the jobs to an executor, stop cleanly on Ctrl-C or
SIGTERM, then build, rank and write the table (`table`) and the sweep's page (`page`), and finish
the parent run.

The driver never prints: it tells its caller what happens, as it happens, through `on_event`
(the events below), and the caller decides what each looks like.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core._errors import BadInput, RunInterrupted
from core._records import RecordStatus, RunRecord, lower_is_better
from core._registry import Registry
from core._runner import new_run_id
from core._settings import artifact_root as resolve_root
from core._settings import tracking_uri as resolve_uri
from core._signals import interrupts_as_exceptions
from core._spec import spec_from_mapping
from core._sweep.executors import Executor, ProcessExecutor, SequentialExecutor
from core._sweep.lost import mark_lost
from core._sweep.page import write_page
from core._sweep.parent import ParentRun
from core._sweep.plan import PlannedRun, SweepPlan, resolve, with_objective
from core._sweep.recover import recover, recover_search
from core._sweep.store import INDEX_TAG, PARENT_TAG, SWEEP_TAG, SweepLayout, SweepState, SweepStore
from core._sweep.table import ENDED_WELL, SweepOutcome, build_rows, describe, rank
from core._sweep.tracking import SweepTracking
from core._sweep.worker import JobResult, SweepJob
from core._tracking import DEFAULT_EXPERIMENT, TrackingTarget, default_target, open_backend, public_uri, resolve_target
from core._tracking.backend import TrackingBackend

LOCAL_URI_SCHEMES = ("sqlite", "file", "memory")


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep; None takes the default (the settings', or the sweep file's)."""

    executor: str = "process"
    max_workers: int | None = None
    ray_address: str | None = None
    artifact_root: str | None = None
    tracking_uri: str | None = None
    #: rank by this metric in this mode (a new metric alone takes the mode its name implies); a search also
    #: optimises and prunes on them (`core._sweep.plan.with_objective`, as `load_sweep`'s own arguments)
    metric: str | None = None
    mode: str | None = None
    #: a sweep id, or "latest" for the newest sweep of the plan's name
    resume: str | None = None
    #: new attempts of a run whose task was lost with its worker or node (Ray), and of a run that FAILED
    retries: int = 1
    retry_failed: int = 0
    #: Ray: per-run resources and runtime_env (`core._sweep.ray_executor.RayOptions`); None: the sweep file's
    ray: Any = None


@dataclass(frozen=True)
class SweepChecking:
    """Before anything starts: `to_run` of the `planned` runs will run (none: a resume with nothing
    left); their configs are being checked and the executor started, which takes seconds."""

    name: str
    planned: int
    to_run: int
    executor: str
    #: an adaptive search: `to_run` is the most trials it will make (its timeout may end it sooner)
    adaptive: bool = False


@dataclass(frozen=True)
class RunsRecovered:
    """A resume found in tracking what the sweep's files lacked (its driver died): `finished` runs
    FINISHED there, not run again, and `ended` runs it had left RUNNING, now ended KILLED and run again."""

    sweep_id: str
    finished: int
    ended: int
    #: an adaptive search: the ended runs' trials are closed, not counted (the study asks new ones)
    adaptive: bool = False


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
    #: an adaptive search (`search:`): `to_run` is the most trials it will make
    adaptive: bool = False


@dataclass(frozen=True)
class RunDone:
    """One run came back: the `done`-th of `total`; `running`, `failed` (neither FINISHED nor
    PRUNED), `finished` and `pruned` so far."""

    result: JobResult
    overrides: dict[str, Any]
    done: int
    total: int
    metric: str | None
    running: int
    failed: int
    finished: int = 0
    pruned: int = 0


@dataclass(frozen=True)
class RunRetried:
    """A run's task was lost (its worker or node died: `node_lost`) or the run FAILED; it runs again
    as `new_run_id`, attempt `attempt` of `attempts`. `marked`: its MLflow run was ended FAILED here."""

    result: JobResult
    overrides: dict[str, Any]
    lost_run_id: str | None
    new_run_id: str
    attempt: int
    attempts: int
    marked: bool


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
class StudyTrouble:
    """The search's study could not be told how a run ended (its journal file failed)."""

    error: Exception


@dataclass(frozen=True)
class SearchBlind:
    """A search stops asking trials: `run_id` FINISHED without its `metric` (it logged `logged`), and no
    trial has had a value: each would fail the same way, none with a value for the sampler."""

    run_id: str
    metric: str
    logged: tuple[str, ...]


@dataclass(frozen=True)
class SearchPlotSkipped:
    """A search's plot was left out of the parent run (no matplotlib, too few finished trials)."""

    reason: str


@dataclass(frozen=True)
class SweepPageUnwritten:
    """The sweep's report.html could not be written; its results.json and results.csv stand."""

    error: Exception


@dataclass(frozen=True)
class ParentRunUnfinished:
    """The parent MLflow run could not be given its results or ended; the sweep's files have them."""

    run_id: str
    error: Exception
    #: set when `--resume SWEEP_ID` ends it once tracking answers (the sweep's results were written)
    sweep_id: str | None = None
    #: the tracking URI that resume must be given (credentials left out), when not the embedded store
    tracking_uri: str | None = None


SweepEvent = (SweepChecking | RunsRecovered | SweepStarted | RunDone | RunRetried | SweepStopping | RunsOver
              | NoParentRun | ParentRunUnfinished | StudyTrouble | SearchBlind | SearchPlotSkipped | SweepPageUnwritten)


def run_sweep(plan: SweepPlan, options: SweepOptions, *,
              on_event: Callable[[SweepEvent], None] | None = None) -> SweepOutcome:
    """Run every planned run of `plan` (those not FINISHED already, when resuming) and return the ranked table."""
    if options.retries < 0 or options.retry_failed < 0:
        raise BadInput("--retries and --retry-failed: a number of new attempts, 0 or more")
    plan = with_objective(plan, options.metric, options.mode)  # a search optimises what the table ranks by
    runner = _make_executor(options, plan)
    root = resolve_root(options.artifact_root).resolve()
    target = resolve_target(resolve_uri(options.tracking_uri), artifact_root=root)
    _refuse_unreachable_store(runner, target)
    sweep = _Sweep(plan, options, runner, root, target, on_event or _ignore, SweepTracking(target, root))
    try:
        try:
            return sweep.run()
        finally:
            try:
                runner.close()  # runs still write their records here: the sweep is still this driver's
            finally:
                sweep.close_tracking()
    finally:
        if sweep.store is not None:  # the folder's lock, freed even when closing the above raised
            sweep.store.close()


def _ignore(event: SweepEvent) -> None:
    pass


def _make_executor(options: SweepOptions, plan: SweepPlan) -> Executor:
    if options.executor == "sequential":
        return SequentialExecutor()
    if options.executor == "process":
        return ProcessExecutor(options.max_workers)
    if options.executor == "ray":
        # Here rather than in `executors`, which `ray_executor` imports: Ray is loaded only when chosen.
        from core._sweep.ray_executor import RayExecutor, RayOptions

        ray_options = options.ray if options.ray is not None else RayOptions(**(plan.ray or {}))
        return RayExecutor(address=options.ray_address, max_workers=options.max_workers, options=ray_options)
    raise ValueError(f"unknown executor {options.executor!r}")  # the CLI's choices make this unreachable


def _refuse_unreachable_store(runner: Executor, target: TrackingTarget) -> None:
    """A cluster's nodes cannot write to a store on this machine's disk (an address on this machine can)."""
    address = getattr(runner, "address", None)
    if not getattr(runner, "on_cluster", False) or not address or _is_local_address(address):
        return
    if target.uri.split(":", 1)[0] in LOCAL_URI_SCHEMES:
        raise BadInput(f"tracking URI '{public_uri(target.uri)}' is local to this machine; a remote Ray "
                       "cluster's workers cannot write to it: pass --tracking-uri http://<mlflow server reachable "
                       "from the cluster> (started with --serve-artifacts, so run folders reach it too)")


@dataclass
class _Sweep:
    """One call of `run_sweep`: what its steps share, so none takes a long list of arguments."""

    plan: SweepPlan
    options: SweepOptions
    runner: Executor
    root: Path
    target: TrackingTarget
    emit: Callable[[SweepEvent], None]
    #: the sweep's tracking service: the parent run's and this machine's runs' way to tracking
    tracking: SweepTracking
    store: SweepStore | None = None
    #: the parent run's connection to tracking, also used to end lost runs
    backend: TrackingBackend | None = None
    #: MLflow opened here to end a lost run when the parent's connection (the service) cannot search
    searcher: TrackingBackend | None = None
    #: by sweep index, the run ids of attempts lost before the last
    retried: dict[int, list[str]] = field(default_factory=dict)
    #: the sweep's study, for a sweep with `search:` (`core._sweep.search.Search`)
    search: Any = None
    #: the planned runs by sweep index (a search's grow as its trials are asked)
    planned: dict[int, PlannedRun] = field(default_factory=dict)
    #: by key, the runs a dead driver left RUNNING, ended KILLED by this resume (`recover`)
    ended: dict[str, list[str]] = field(default_factory=dict)

    def _base_spec(self) -> dict[str, Any]:
        return self.plan.runs[0].spec.to_dict() if self.plan.runs else spec_from_mapping(
            self.plan.base, source=self.plan.source).to_dict()

    def _open_search(self, store: SweepStore) -> None:
        from core._sweep.search import Search

        self.search = Search.open(self.plan, store.layout.dir, store.sweep_id,
                                  ended=self._search_runs_ended(store) if store.resumed else None)
        self.plan.runs = self.search.earlier_runs()
        self.planned = {p.index: p for p in self.plan.runs}

    def _search_runs_ended(self, store: SweepStore) -> dict[str, tuple[RecordStatus, float | None]]:
        """By core run id, how the search's runs ended, from their folders and from tracking (whose runs
        still RUNNING there, their driver dead, are ended KILLED): what a resumed study is told of the
        trials its killed driver never told."""
        assert self.plan.search is not None
        metric = self.plan.search.metric
        ended: dict[str, tuple[RecordStatus, float | None]] = {}
        here = store.runs_on_disk()
        for _, record in here:
            if record.status in ENDED_WELL:
                ended[record.run_id] = (record.status, record.metrics.get(metric))
        found = recover_search(self.target, store, on_disk={record.run_id for _, record in here})
        for core_id, metrics in found.finished.items():
            ended.setdefault(core_id, (RecordStatus.FINISHED, metrics.get(metric)))
        if found.ended:
            self.emit(RunsRecovered(store.sweep_id, 0, len(found.ended), adaptive=True))
        return ended

    def _to_check(self) -> list[tuple[dict[str, Any], str]]:
        """The specs checked before any run starts: every planned run, or for a search its two extreme configs."""
        plan = self.plan
        if plan.search is None:
            return [(p.spec.to_dict(), f"{plan.source} (run {p.index}: {describe(p.overrides)})") for p in plan.runs]
        from core._sweep.search import probe_overrides

        return [(resolve(plan, 0, o).spec.to_dict(), f"{plan.source} (search: {describe(o)})")
                for o in probe_overrides(plan.search)]

    def run(self) -> SweepOutcome:
        plan, options = self.plan, self.options
        metric = plan.metric  # `with_objective` put the options' in
        mode = plan.mode or (("min" if lower_is_better(metric) else "max") if metric else None)
        # A resume with nothing left to run answers from the sweep's files alone: no workers, no checks.
        store = SweepStore.open(self.root, plan, options.resume) if options.resume else None
        self.store = store  # closed (its lock freed) by run_sweep, however this ends
        if plan.search is not None:
            from core._sweep.trial import optuna_module

            optuna_module()  # a missing extra is said before anything starts
            if store is not None:
                self._open_search(store)
            to_run = self.search.left if self.search is not None else plan.search.budget
            self.emit(SweepChecking(plan.name, len(plan.runs) + to_run, to_run, options.executor, adaptive=True))
        else:
            if store is not None:  # the sweep's driver may have died: ask tracking what its files lack
                self._recover(store)
            left = [p for p in plan.runs if store is None or p.key not in store.finished()]
            to_run = len(left)
            self.emit(SweepChecking(plan.name, len(plan.runs), to_run, options.executor))
            self.planned = {p.index: p for p in plan.runs}
        if to_run:
            # Workers start importing (Ray: the cluster is joined) now, in parallel with the validation
            # and store set-up; a cluster that cannot be reached stops the sweep here, before a new
            # sweep's folder is made. Every run's config is checked before any starts.
            # The tracking service starts now too, importing MLflow and opening the store while the
            # workers start (they need neither then) and the configs are checked; it answers before the
            # parent run is made, so no run has to start one.
            self.tracking.start()
            self.runner.warm_up(to_run, self._base_spec(), str(self.root), self.target.uri,
                                open_store=not self.tracking.wanted)
            self.runner.validate(self._to_check())
        store = store or SweepStore.open(self.root, plan, options.resume)
        self.store = store
        if plan.search is not None and self.search is None:
            self._open_search(store)
        # Nothing left to run: the parent MLflow run already holds this sweep's results; reopening and
        # ending it again would log its metrics a second time. Unless its ending never reached tracking
        # (the server was down when the sweep ended): then it is ended now, with the first try's time.
        end_pending = store.state.parent_end_pending_ms is not None
        parent = self._open_parent(store.state, end_pending=end_pending and not to_run) \
            if to_run or end_pending else None
        try:
            return self._run_with_parent(store, parent, metric, mode)
        except BaseException as exc:
            # Whatever stops a sweep before or between runs (not a run's own failure, nor Ctrl-C, which
            # end with the table) leaves its parent run FAILED with the reason, never RUNNING.
            if parent is not None:
                self._fail_parent(parent, exc)
            raise

    def _run_with_parent(self, store: SweepStore, parent: ParentRun | None, metric: str | None,
                         mode: str | None) -> SweepOutcome:
        plan, options = self.plan, self.options
        parent_id = parent.run_id if parent else store.state.parent_run_id
        self.backend = parent.backend if parent else None
        store.save_state(parent_run_id=parent_id, tracking_uri=public_uri(self.target.uri))
        if parent is not None and store.state.parent_end_pending_ms is None:
            # Until its end is acknowledged, the parent is noted as to be ended (0: at whatever time a
            # resume ends it): a driver killed before its end (or while it writes the page) leaves it
            # noted, so a resume with nothing left to run still ends it instead of leaving it RUNNING.
            store.save_parent_end_pending(0)
        done = store.finished()
        store.layout.stop_file.unlink(missing_ok=True)  # a resumed sweep starts afresh
        if self.search is not None:
            jobs: Any = self._trial_jobs(store, parent_id)
        else:
            jobs = self._jobs([p for p in plan.runs if p.key not in done], store, parent_id)
        store.save_plan(plan)
        self.emit(SweepStarted(store.sweep_id, plan.name, len(plan.runs) + (len(jobs) if self.search else 0),
                               len(jobs), bool(done), options.executor, options.max_workers,
                               adaptive=self.search is not None))
        nothing_to_run = not len(jobs)
        started = time.perf_counter()
        results, interrupt = self._execute(jobs, metric, store.layout.stop_file)
        elapsed = time.perf_counter() - started
        rows = build_rows(plan.runs, results, done, store.latest_attempts, retries=self.retried,
                          remote=self._remote_record)
        outcome = SweepOutcome(store.sweep_id, store.layout.dir, rank(rows, metric, mode), metric, mode, interrupt,
                               skipped=len(done), startup_s=self.runner.startup_s, elapsed_s=elapsed,
                               parent_run_id=parent_id, blind_run=self.search.blind_run if self.search else None)
        store.save_results(outcome, options.executor)
        best_params, search_files = self._write_search_report(store.layout)
        page = self._write_page(outcome, store)  # after the search's plots, which it embeds
        if parent:
            self._finish_parent(parent, outcome, store, best_params, search_files,
                                [page] if page else [], again=nothing_to_run)
        return outcome

    def _recover(self, store: SweepStore) -> None:
        """What tracking knows that the sweep's files do not (its driver died): FINISHED runs are not
        run again, runs left RUNNING are ended KILLED and run again (`recover`)."""
        found = recover(self.target, store, store.planned_keys(), set(store.finished()))
        store.tracked = found.finished
        self.ended = found.ended
        if found.finished or found.ended:
            self.emit(RunsRecovered(store.sweep_id, len(found.finished), sum(len(v) for v in found.ended.values())))

    def close_tracking(self) -> None:
        self.tracking.close()
        if self.searcher is not None:
            self.searcher.close()

    def _lost_run_backend(self) -> TrackingBackend | None:
        """What `mark_lost` searches MLflow with: the parent run's connection when it can search; the
        tracking service's cannot (it makes a run's own calls only), so then MLflow opened here, once (a
        node lost is rare). None without a parent run, as before."""
        if self.backend is None or getattr(self.backend, "client", None) is not None:
            return self.backend
        if self.searcher is None:
            try:
                self.searcher = open_backend(self.target)
            except Exception:  # noqa: BLE001 - tracking trouble: the table still says the run was lost
                return None
        return self.searcher

    def _remote_record(self, result: JobResult) -> RunRecord | None:
        return self.store.held_record(result.run_id) if result.run_id else None

    def _fail_parent(self, parent: ParentRun, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}".strip().rstrip(":") if str(exc) else type(exc).__name__
        try:
            parent.fail(reason)
        except Exception as error:  # noqa: BLE001 - the sweep's own error is what the user must see
            self.emit(ParentRunUnfinished(parent.run_id, error))
            return
        if self.store is not None and self.store.state.parent_end_pending_ms is not None:
            self.store.save_parent_end_pending(None)

    def _open_parent(self, state: SweepState, *, end_pending: bool = False) -> ParentRun | None:
        """`end_pending`: opened only to end it (nothing left to run); failing, it is still to be ended."""
        if self.target.is_memory:
            return None
        base = self._base_spec()
        experiment = base.get("experiment") or DEFAULT_EXPERIMENT
        try:
            return ParentRun.open(self.target, experiment, state, base["plugin"], backend=self.tracking.backend())
        except Exception as exc:  # noqa: BLE001 - tracking trouble never stops a sweep: each run journals and can be synced later
            if end_pending and state.parent_run_id:
                self.emit(self._unfinished(state.parent_run_id, exc, state.sweep_id))
            else:
                self.emit(NoParentRun(exc))
            return None

    def _unfinished(self, run_id: str, exc: Exception, sweep_id: str | None) -> ParentRunUnfinished:
        embedded = self.target.uri == default_target(self.root).uri
        return ParentRunUnfinished(run_id, exc, sweep_id, None if embedded else public_uri(self.target.uri))

    def _write_search_report(self, layout: SweepLayout) -> tuple[dict[str, Any] | None, list[Path]]:
        """A search's best params and its files in `search/` (best.json, the plots), for the page and the parent run."""
        if self.search is None:
            return None, []
        best_params, files = None, []
        try:
            best = self.search.best()
            best_params = best[0] if best else None
            files, skipped = self.search.write_report(layout.dir / "search")
            if skipped:
                self.emit(SearchPlotSkipped(skipped))
        except Exception as exc:  # noqa: BLE001 - the table and the runs stand without the plots
            self.emit(StudyTrouble(exc))
        return best_params, files

    def _write_page(self, outcome: SweepOutcome, store: SweepStore) -> Path | None:
        try:
            return write_page(outcome, store.state, plugin=self._base_spec()["plugin"], executor=self.options.executor)
        except Exception as exc:  # noqa: BLE001 - the page is a view of results.json, which is written already
            self.emit(SweepPageUnwritten(exc))
            return None

    def _finish_parent(self, parent: ParentRun, outcome: SweepOutcome, store: SweepStore,
                       best_params: dict[str, Any] | None, search_files: list[Path], pages: list[Path], *,
                       again: bool) -> None:
        """`again`: no run ran in this call, so an ending left pending is tried again as it was (its time);
        after new runs the totals are new points, at a new time."""
        layout = store.layout
        pending = store.state.parent_end_pending_ms
        end_ms = pending if again and pending else int(time.time() * 1000)
        # Noted before trying, so a driver killed mid-way leaves it noted too.
        store.save_parent_end_pending(end_ms)
        try:
            parent.finish(outcome, [layout.results_json, layout.results_csv, layout.plan, *pages],
                          best_params=best_params, search_files=search_files, end_ms=end_ms)
        except Exception as exc:  # noqa: BLE001 - the sweep's own files hold its results; only the parent run lags
            self.emit(self._unfinished(parent.run_id, exc, store.sweep_id))
            return
        store.save_parent_end_pending(None)

    def _trial_jobs(self, store: SweepStore, parent_id: str | None) -> _TrialJobs:
        """A search's jobs, each a trial asked of the study when a worker is free to run it."""
        search = self.search
        search.channel = self.runner.trial_channel(str(search.storage_path), search.study.study_name,
                                                   search.settings.pruner, dict(search.settings.pruner_options))

        def planned(run: PlannedRun) -> None:
            self.plan.runs.append(run)
            self.planned[run.index] = run
            store.save_plan(self.plan)  # a resumed sweep finds this trial's run folder by it

        return _TrialJobs(lambda: search.jobs(lambda run: self._jobs([run], store, parent_id)[0], planned),
                          search.left)

    def _jobs(self, todo: list[PlannedRun], store: SweepStore, parent_id: str | None) -> list[SweepJob]:
        # On a cluster each run's folder lives on its node (none shares this disk); the driver keeps
        # what the tasks return in the sweep's folder.
        node_local = bool(getattr(self.runner, "on_cluster", False))
        # This machine's runs use the service as the driver found it; a node's decide there.
        service = True if node_local else self.tracking.for_runs
        # Named on a node that lacks the plugin (the driver has it: every spec was validated here).
        dist = Registry().distribution(self._base_spec()["plugin"]) if node_local else None
        jobs = []
        for planned in todo:
            tags = {SWEEP_TAG: store.sweep_id, INDEX_TAG: str(planned.index)}
            if parent_id:
                tags[PARENT_TAG] = parent_id
            killed = self.ended.get(planned.key, [])
            if killed:  # a dead driver's run, ended KILLED by this resume: this one is its next attempt
                self.retried[planned.index] = list(killed)
            jobs.append(SweepJob(planned.index, planned.key, planned.spec.to_dict(),
                                 None if node_local else str(self.root), self.target.uri,
                                 None if node_local else str(store.layout.stop_file), tags=tags,
                                 run_id=new_run_id(), retry_of=killed[-1] if killed else None, plugin_dist=dist,
                                 tracking_service=service))
        return jobs

    def _settle(self, job: SweepJob, result: JobResult) -> SweepJob | None:
        """Keep what a task returned; for a lost task (or, with --retry-failed, a FAILED run) end its
        MLflow run FAILED (`mlcore.failure=node_lost`) and return the job's next attempt, if any is left."""
        if result.summary is not None and result.run_id:
            self.store.save_held_summary(result.run_id, result.summary)
        lost = result.node_lost
        # Its MLflow run (if the start reached the server) is still RUNNING: no one else will end it.
        marked = (mark_lost(self._lost_run_backend(), job.run_id, result.error or "node lost")
                  if lost and job.run_id else False)
        failed = result.status is RecordStatus.FAILED and not lost
        allowed = self.options.retries if lost else self.options.retry_failed if failed else 0
        if job.attempt >= allowed:
            return None
        previous = result.run_id or job.run_id
        again = replace(job, run_id=new_run_id(), retry_of=previous, attempt=job.attempt + 1)
        if not self.runner.retry(again):
            return None
        self.retried.setdefault(job.index, []).append(previous or "?")
        self.emit(RunRetried(result, self.planned[job.index].overrides, previous, again.run_id or "?",
                             again.attempt, allowed, marked))
        return again

    def _execute(self, jobs: list[SweepJob] | _TrialJobs, metric: str | None,
                 stop_file: Path) -> tuple[dict[int, JobResult], str | None]:
        """Each job's result by index, and the signal that stopped the sweep (None if none did)."""
        results: dict[int, JobResult] = {}
        if not len(jobs):  # nothing left to run: no executor is started
            return results, None
        by_index: dict[int, SweepJob] = {}
        jobs = _Seen(jobs, by_index)
        interrupt = None
        try:
            with interrupts_as_exceptions():
                try:
                    try:
                        for result in self.runner.submit_all(jobs):
                            job = by_index[result.index]
                            if result.node_lost and not result.run_id:
                                result = replace(result, run_id=job.run_id)
                            again = self._settle(job, result)
                            if again is not None:
                                by_index[result.index] = again
                                continue
                            results[result.index] = result
                            self._tell(job, result)
                            counts = Counter(r.status for r in results.values())
                            failed = len(results) - counts[RecordStatus.FINISHED] - counts[RecordStatus.PRUNED]
                            self.emit(RunDone(result, self.planned[result.index].overrides, len(results), len(jobs),
                                              metric, self.runner.running(), failed, counts[RecordStatus.FINISHED],
                                              counts[RecordStatus.PRUNED]))
                    except KeyboardInterrupt:
                        interrupt = "SIGINT"
                    except RunInterrupted:
                        interrupt = "SIGTERM"
                    if interrupt:
                        self.emit(SweepStopping(interrupt))
                        stop_file.touch()
                        self.runner.stop()
                        for result in self.runner.drain():  # runs elsewhere: their records come back
                            if result.summary is not None and result.run_id:
                                self.store.save_held_summary(result.run_id, result.summary)
                            results[result.index] = result
                            self._tell(by_index.get(result.index), result, interrupted=True)
                finally:
                    self.emit(RunsOver())
        except KeyboardInterrupt:
            interrupt = interrupt or "SIGINT"
        finally:
            self.runner.close()  # waits for the runs told to stop: their records are complete before the table
            for index, job in by_index.items():  # a trial asked but never answered: not counted on --resume
                if index not in results:
                    self._tell(job, JobResult.lost(job, "the sweep stopped"), interrupted=True)
        return results, interrupt

    def _tell(self, job: SweepJob | None, result: JobResult, *, interrupted: bool = False) -> None:
        """A search's study hears how each trial's run ended (FINISHED with its value, PRUNED, FAIL)."""
        if self.search is None or job is None:
            return
        blind = self.search.blind_run
        try:
            self.search.tell(job, result, interrupted=interrupted)
        except Exception as exc:  # noqa: BLE001 - the study's file is the search's; the runs' records stand
            self.emit(StudyTrouble(exc))
        if blind is None and self.search.blind_run is not None:
            self.emit(SearchBlind(self.search.blind_run, self.search.settings.metric, tuple(sorted(result.metrics))))


class _TrialJobs:
    """A search's jobs: made as they are taken (`make()` asks the study), `budget` of them at most."""

    def __init__(self, make: Callable[[], Any], budget: int) -> None:
        self._make, self._budget = make, budget

    def __len__(self) -> int:
        return self._budget

    def __iter__(self) -> Any:
        return iter(self._make())


class _Seen:
    """`jobs` as an executor takes them, each noted by index in `seen` (a search's are made as taken)."""

    def __init__(self, jobs: Any, seen: dict[int, SweepJob]) -> None:
        self._jobs, self._seen = jobs, seen

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Any:
        for job in self._jobs:
            self._seen[job.index] = job
            yield job


def _is_local_address(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return address == "auto" or host in ("127.0.0.1", "localhost", "")
