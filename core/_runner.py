"""The one owner of a run's lifecycle (DESIGN.md, "A run's lifecycle").

1. resolve the plugin (a missing extra names the pip command) and validate the spec;
2. make the run id, the run folder and a logger scoped to the run;
3. start the tracking run with tags `plugin`, `purpose`, `pipeline` and the
   spec's own, and seed the plugin family's RNGs;
4. call `plugin.run(spec, context=...)`;
5. always: write `summary/run_summary.json`, on failure `errors/exception.txt`,
   log both best-effort, flush tracking, end the run FINISHED, FAILED or KILLED.

Nothing before step 2 leaves anything on disk, so bad input leaves no run folder.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core._deps import is_installed
from core._environment import describe_environment
from core._errors import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    BadInput,
    MissingExtra,
    ModelNotFound,
    PluginNotFound,
    RunInterrupted,
    RunPruned,
    SpecError,
)
from core._files import json_safe
from core._inputs import check_inputs
from core._layout import EXCEPTION_PATH, RunLayout, runs_dir
from core._models import ModelLocator, check_model_input, check_uri_form, describe, registration
from core._records import EarlierRunFiles
from core._redact import changed_fields, redact, redact_mapping, scrub
from core._registry import Registry
from core._report import write_report
from core._runlock import hold
from core._runlog import CONSOLE_ATTR, close_run_logger, open_run_logger
from core._seeding import seed_everything
from core._settings import artifact_root as resolve_root
from core._settings import strict_names
from core._settings import tracking_uri as resolve_uri
from core._signals import deferred_interrupts, interrupts_as_exceptions
from core._spec import check_user_tags
from core._summary import ErrorInfo, PluginRef, RegistrationInfo, RunSummary, TrackingInfo, jsonable, write_exception
from core._tracking import (
    DEFAULT_EXPERIMENT,
    TrackingTarget,
    open_backend,
    prepare_experiment,
    public_uri,
    resolve_target,
    service_client,
    sqlite_store,
)
from core._tracking.backend import RUN_ID_TAG, TrackingBackend
from core._tracking.handle import TrackingHandle
from core._tracking.journal import Journal, release_space, reserve_space
from core._tracking.naming import NamingPolicy
from core._tracking.pruning import PRUNED_STEP_TAG, PRUNED_TAG, PruneWatch, TrialReporter
from core._tracking.recorder import RunRecorder
from core.contracts import Plugin, RunContext, RunResult, RunSpec, RunStatus

_HOST = socket.gethostname()  # with `pid`, lets `core runs list` tell a live run from a dead one
_LOG = logging.getLogger("mlcore.run")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a finished call to `run` reports; the summary on disk says the same."""

    run_id: str
    status: RunStatus
    run_dir: Path
    outputs: dict[str, Any]
    summary: RunSummary = field(repr=False)
    error: str | None = None
    #: "SIGINT" or "SIGTERM" when the run was KILLED by a signal
    interrupt: str | None = None

    @property
    def exit_code(self) -> int:
        if self.status in (RunStatus.FINISHED, RunStatus.PRUNED):  # pruned by a search: not a failure
            return 0
        if self.interrupt == "SIGTERM":
            return EXIT_TERMINATED
        if self.interrupt == "SIGINT":
            return EXIT_INTERRUPTED
        return 1


def outcome_of(summary: RunSummary, run_dir: Path) -> RunOutcome:
    """The outcome a run's record gives, for a run whose own process could not return one."""
    message = summary.error.message if summary.error else None
    interrupt = message.removeprefix("interrupted by ") if message and message.startswith("interrupted by ") else None
    return RunOutcome(run_id=summary.run_id, status=summary.status, run_dir=run_dir, outputs=dict(summary.outputs),
                      summary=summary, error=message, interrupt=interrupt if interrupt in ("SIGINT", "SIGTERM") else None)


_last_id_ms = 0
_id_lock = threading.Lock()


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by start time (to the millisecond), safe in any file system: 20261126-153012-123-9f3a1c.
    Ids made by one process are strictly increasing (a millisecond later than the last when made within
    the same one): a sweep makes its runs' ids together, and they then sort in its order, not by the
    random suffix."""
    if now is None:
        global _last_id_ms
        with _id_lock:
            ms = _last_id_ms = max(time.time_ns() // 1_000_000, _last_id_ms + 1)
        now = datetime.fromtimestamp(ms // 1000, timezone.utc).replace(microsecond=ms % 1000 * 1000)
    return f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def prepare(spec: RunSpec, *, registry: Registry | None = None, source: str | None = None) -> Plugin:
    """Step 1: the plugin instance for `spec`, its extra checked and the spec validated.

    Raises `BadInput` subclasses only; touches nothing on disk. `core validate` is this.
    """
    registry = registry or Registry()
    try:
        plugin = registry.create(spec.plugin)
    except PluginNotFound as exc:
        if source is None:
            raise
        raise PluginNotFound(f"{source}: field 'plugin': {exc}") from None
    info = plugin.info
    for module in info.requires:
        if not is_installed(module):
            raise MissingExtra(caller=f"plugin '{info.key}'", module=module, extra=info.extra)
    # Tags a spec asks for, however it was built (a file, `--set`, Python): core's and MLflow's own
    # names are refused here, before anything is written, as for a spec file.
    check_user_tags(spec.tags, source or f"spec for plugin '{spec.plugin}'")
    try:
        plugin.validate(spec)
    except SpecError as exc:
        if source is None:
            raise
        raise exc.located(source) from None
    return plugin


def check_run_inputs(plugin: Plugin, spec: RunSpec, *, root: Path, target: TrackingTarget,
                     backend: TrackingBackend | None = None, source: str | None = None, offline: bool = False) -> None:
    """Step 1b: what the run needs from earlier runs (`Plugin.inputs`) exists, or bad input (exit 2)
    before any folder is made. Needs the artifact root and tracking target, so it follows `prepare`.
    An MLflow Model is fetched from tracking during the run: an offline run cannot have one."""
    inputs = tuple(plugin.inputs(spec))
    for item in inputs:
        if item.model_uri is not None:
            check_uri_form(item, source=source)  # a malformed URI is refused even offline
            if offline or target.offline:
                where = f"{source}: field '{item.field}'" if source else f"field '{item.field}'"
                raise ModelNotFound(f"{where}: {item.model_uri}: tracking is offline, so the model cannot be "
                                    "fetched (run without --offline)")
    if inputs:
        check_inputs(inputs, root=root, target=target, backend=backend, source=source,
                     model_check=lambda item, opened: check_model_input(item, opened, source=source))


def run(
    spec: RunSpec,
    *,
    artifact_root: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    registry: Registry | None = None,
    backend: TrackingBackend | None = None,
    offline: bool = False,
    extra_tags: dict[str, str] | None = None,
    source: str | None = None,
    strict: bool | None = None,
    run_id: str | None = None,
    trial: TrialReporter | None = None,
    tracking_service: bool = True,
) -> RunOutcome:
    """Carry out one run. KeyboardInterrupt / RunInterrupted are re-raised after the
    record is written (with `.outcome` attached), so callers such as sweeps stop too.
    `strict`: naming-convention slips raise instead of warning (default: $CORE_STRICT_NAMES).
    `run_id`: one made beforehand with `new_run_id` (`core run`'s supervisor watches its folder).
    `trial`: the search trial this run is (`core sweep` with `search:`): its watched metric is reported
    as logged, and a run its pruner stops ends PRUNED.
    `tracking_service`: False sends in-process without trying the local tracking service (a sweep's run
    whose driver found the service unusable: it is not tried again by every run)."""
    plugin = prepare(spec, registry=registry, source=source)
    root = resolve_root(artifact_root)
    target = resolve_target(resolve_uri(tracking_uri), artifact_root=root)
    check_run_inputs(plugin, spec, root=root, target=target, backend=backend, source=source, offline=offline)
    run_id = run_id or new_run_id()
    run_dir = runs_dir(root) / run_id
    if offline:
        target = replace(target, offline=True)
    # From before the folder exists, a signal is noted, never lost: one that arrives before the
    # plugin can be interrupted interrupts it as it starts, and one that arrives once it returned,
    # before its outcome is journaled, ends the run KILLED (`_finish`).
    with deferred_interrupts() as received:
        try:
            run_dir.mkdir(parents=True)
        except OSError as exc:
            raise BadInput(f"cannot create run folder in artifact root '{root}': {exc.strerror}") from None
        # This process works on the run until it ends: `core sync` and `core runs repair` wait for it.
        run_lock = hold(run_dir)
        try:
            return _run_in_folder(spec, plugin, root, target, run_id, run_dir, backend, extra_tags, strict, received,
                                  trial, tracking_service=tracking_service)
        finally:
            if run_lock is not None:
                run_lock.release()


def _run_in_folder(spec: RunSpec, plugin: Plugin, root: Path, target: TrackingTarget, run_id: str, run_dir: Path,
                   backend: TrackingBackend | None, extra_tags: dict[str, str] | None,
                   strict: bool | None, received: list[int], trial: TrialReporter | None = None, *,
                   tracking_service: bool = True) -> RunOutcome:
    # A signal is only noted until the run's record exists and is complete; inside
    # `interrupts_as_exceptions` it interrupts the plugin.
    with deferred_interrupts(received):
        started = datetime.now(timezone.utc)
        state = _RunState(run_id=run_id, run_dir=run_dir, spec=spec, plugin=plugin, target=target, started=started,
                          tags=_run_tags(spec, plugin, run_id, extra_tags))
        # The record first (a RUNNING summary with this pid): a process killed from here on leaves a
        # run that `core runs list` shows DEAD and `core runs repair` ends.
        _write(state, RunStatus.RUNNING, recorder=None, logger=_LOG)
        logger, log_handler = open_run_logger(run_id, run_dir)
        journal = Journal(run_dir)
        experiment = spec.experiment or DEFAULT_EXPERIMENT
        # Where `core sync` must send what this run could not (or, offline, did not) send.
        journal.update_state(target_uri=public_uri(target.uri), artifact_location=target.artifact_location)
        if spec.register is not None:  # for `core sync` to register a run killed before it journaled that
            journal.update_state(register_request=dict(spec.register))
        reserve_space(run_dir)  # room for how the run ended, should the disk fill meanwhile
        recorder = RunRecorder(None, journal, logger=logger)  # journals only until a backend is attached
        watch = PruneWatch(trial, logger) if trial is not None else None
        try:
            # The start is journaled before the backend is opened (seconds, for a new store or a
            # slow server): a run killed or interrupted meanwhile has a start to send and to end.
            recorder.start(
                experiment=experiment,
                run_name=spec.name or run_id,
                tags=state.tags,
                start_time_ms=int(started.timestamp() * 1000),
            )
            with interrupts_as_exceptions(received):  # a signal noted so far interrupts here
                if backend is None and not target.offline:
                    backend = _open_backend_or_none(target, experiment, logger, root, service=tracking_service)
                recorder.attach(backend)
                logger.info("run %s started: plugin %s, folder %s", run_id, plugin.info.key, run_dir)
                if spec.seed is not None:
                    seeded = seed_everything(spec.seed, plugin.info.seeds)
                    logger.debug("seeded %s with %d", ", ".join(seeded), spec.seed)
                context = RunContext(
                    run_id=run_id,
                    spec=spec,
                    tracking=TrackingHandle(recorder, NamingPolicy(strict=strict_names(strict), logger=logger),
                                            prune=watch),
                    artifact_dir=run_dir,
                    logger=logger,
                    locate_run_file=EarlierRunFiles(root, RunLayout(run_dir),
                                                    backend.download_artifact if backend else None),
                    locate_model=ModelLocator(RunLayout(run_dir), backend),
                )
                result = plugin.run(spec, context=context)
                if not isinstance(result, RunResult):
                    raise TypeError(
                        f"plugin '{plugin.info.key}' returned {type(result).__name__}, not core.RunResult"
                    )
                state.outputs = dict(result.outputs)
                state.status = RunStatus.FINISHED
                if watch is not None and watch.pruned is not None:  # the plugin caught it and returned
                    state.prune(watch.pruned)
        except RunPruned as exc:
            state.prune(exc)
        except KeyboardInterrupt as exc:
            state.fail(exc, RunStatus.KILLED, interrupt="SIGINT")
        except RunInterrupted as exc:
            state.fail(exc, RunStatus.KILLED, interrupt="SIGTERM")
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin is a failure too
            state.fail(exc, RunStatus.FAILED)
        outcome = _finish(state, recorder, backend, logger, log_handler, received)
    if state.exc is not None and state.interrupt is not None:
        state.exc.outcome = outcome  # type: ignore[attr-defined]
        raise state.exc
    return outcome


@dataclass
class _RunState:
    run_id: str
    run_dir: Path
    spec: RunSpec
    plugin: Plugin
    target: TrackingTarget
    started: datetime
    status: RunStatus = RunStatus.FAILED
    outputs: dict[str, Any] = field(default_factory=dict)
    exc: BaseException | None = None
    interrupt: str | None = None
    environment: dict[str, Any] | None = None
    #: the run's tags as core starts it with them (recorded from the first summary on)
    tags: dict[str, str] = field(default_factory=dict)
    #: the model registration asked for, as it stands until tracking answers (`registered` in the summary)
    registration: dict[str, Any] | None = None

    #: the search's pruner stopped the run (status PRUNED; not an error: no error file)
    pruned: RunPruned | None = None

    def fail(self, exc: BaseException, status: RunStatus, interrupt: str | None = None) -> None:
        self.exc, self.status, self.interrupt = exc, status, interrupt

    def prune(self, exc: RunPruned) -> None:
        self.exc, self.status, self.interrupt, self.pruned = None, RunStatus.PRUNED, None, exc


def tracking_service_wanted(target: TrackingTarget) -> bool:
    """Whether a run tracking to `target` goes through the local tracking service: it is on
    (`CORE_TRACKING_SERVICE`), the target is an MLflow store (not memory, not offline), and a local
    store's file is one that can be opened (else the run says why at once, in-process)."""
    db = target.sqlite_path
    return service_client.usable_for(target) and (db is None or sqlite_store.problem(db) is None)


def _open_backend_or_none(target: TrackingTarget, experiment: str, logger: logging.Logger,
                          root: Path, *, service: bool = True) -> TrackingBackend | None:
    """The backend, with its store and experiment ready; None (offline, journal only) if it
    cannot be reached, so an unreachable server never stops a run from starting.

    Through the local tracking service when it can be used (`_tracking/service_client`): this process
    then never imports MLflow, and the experiment is made by the service when the start is sent."""
    if service and tracking_service_wanted(target):
        remote = service_client.connect(target, root, logger=logger)
        if remote is not None:
            return remote
    try:
        backend = open_backend(target)
        prepare_experiment(backend, target, experiment)
        return backend
    except Exception as exc:  # noqa: BLE001 - reported, and the journal keeps every call
        reason = (str(exc).strip().splitlines() or [""])[0][:300]
        logger.warning("tracking %s unavailable at start (%s: %s): the run goes on, journaling every call",
                       target.uri, type(exc).__name__, reason)
        try:
            return open_backend(target)  # the recorder retries later; sync can finish the job
        except Exception:  # noqa: BLE001
            return None


def _run_tags(spec: RunSpec, plugin: Plugin, run_id: str, extra: dict[str, str] | None) -> dict[str, str]:
    pipeline = spec.tags.get("pipeline") or spec.data_spec.get("pipeline")
    purpose = spec.tags.get("purpose") or spec.data_spec.get("purpose")
    tags = {
        "plugin": plugin.info.key,
        "pipeline": pipeline if isinstance(pipeline, str) else "train",
        "purpose": purpose if isinstance(purpose, str) else "unspecified",
        RUN_ID_TAG: run_id,
    }
    if spec.seed is not None:
        tags["seed"] = str(spec.seed)
    tags.update(extra or {})
    tags.update(spec.tags)
    # Core's own tags win: not even a spec built in Python can say another plugin or core run made this one.
    tags.update({"plugin": plugin.info.key, RUN_ID_TAG: run_id})
    return tags


#: how much of a plugin's outputs the journaled outcome keeps (for a run killed before its final
#: summary); small, so it fits the space a run reserves for recording how it ended
OUTCOME_OUTPUTS_BYTES = 64 * 1024


def _finish(state: _RunState, recorder: RunRecorder | None, backend: TrackingBackend | None, logger: logging.Logger,
            log_handler: logging.Handler, received: list[int]) -> RunOutcome:
    """Step 5. Each part is best-effort and independent: one failing never skips the others."""
    release_space(state.run_dir)  # a full disk has room again for what follows
    ended = datetime.now(timezone.utc)
    error = None
    state.environment = describe_environment(state.plugin.info)
    if received and state.status is RunStatus.FINISHED:
        # A signal after the plugin returned, before the outcome is journaled: the run was
        # interrupted, and says so (not FINISHED with exit code 130).
        name = signal.Signals(received[0]).name
        state.fail(KeyboardInterrupt() if name == "SIGINT" else RunInterrupted(name), RunStatus.KILLED, interrupt=name)
    received.clear()
    if state.exc is not None:
        error = scrub(f"{type(state.exc).__name__}: {state.exc}".strip().rstrip(":"))
        if state.interrupt:
            error = f"interrupted by {state.interrupt}"
        _best_effort(logger, "write errors/exception.txt", lambda: _log_file(
            recorder, write_exception(state.run_dir, state.exc), "errors"))
        logger.error("run %s %s: %s", state.run_id, state.status.value, error)
    if recorder is not None and state.pruned is not None and state.status is RunStatus.PRUNED:
        # MLflow has no PRUNED: the run ends KILLED there, and these tags say it was the pruner.
        pruned = state.pruned
        _best_effort(logger, "tag the pruned run", lambda: recorder.set_tags(
            {PRUNED_TAG: "true", PRUNED_STEP_TAG: str(pruned.step)}))
        logger.info("run %s pruned at step %d (%s=%.6g)", state.run_id, pruned.step, pruned.metric, pruned.value)
    if recorder is not None:
        # How the run ended is journaled before the summary says it: a process killed from here on
        # is ended with this status by `core sync` or `core runs repair`.
        failure = (type(state.exc).__name__, error or "") if state.exc is not None else None
        _best_effort(logger, "journal the outcome", lambda: recorder.decide(
            state.status, int(ended.timestamp() * 1000), failure,
            outputs=redact(json_safe(state.outputs, max_bytes=OUTCOME_OUTPUTS_BYTES))))
    summary = _write(state, state.status, recorder=recorder, logger=logger, ended=ended, error=error)
    _best_effort(logger, "log the summary", lambda: _log_file(recorder, RunLayout(state.run_dir).summary, "summary"))
    _best_effort(logger, "write reports/report.html", lambda: _log_file(
        recorder, write_report(state.run_dir), "reports"))
    # the run's log ends with it; the console does not show it: `core run` prints the outcome next, with its time
    logger.info("run %s %s in %.2fs", state.run_id, state.status.value, (ended - state.started).total_seconds(),
                extra={CONSOLE_ATTR: False})
    log_handler.flush()
    # The run's log goes with its summary (what happened, in the run's words), as the last artifact.
    _best_effort(logger, "log logs/run.log", lambda: _log_file(recorder, RunLayout(state.run_dir).log, "logs"))
    if recorder is not None:
        register = _registration(state, recorder, logger)
        _best_effort(logger, "end the tracking run", lambda: recorder.end(state.status, int(ended.timestamp() * 1000),
                                                                          register=register))
        result = recorder.journal.state.get("registered")
        if register is not None and result:
            state.registration = result
            if result.get("error"):
                logger.warning("model %s", describe(result))
            else:
                logger.info("registered model %s", describe(result))
        # Rewrite with what tracking could not send, now that it is final.
        summary = _write(state, state.status, recorder=recorder, logger=logger, ended=ended, error=error)
        if recorder.pending:
            logger.warning(
                "%d tracking calls are pending in %s: send them with `core sync %s`",
                recorder.pending, recorder.journal.path, state.run_id,
            )
    if received:  # too late to change the record: it stands, and the exit code says the same
        logger.warning("%s arrived after run %s had ended %s: its record stands", signal.Signals(received[0]).name,
                       state.run_id, state.status.value)
        received.clear()
    if backend is not None:
        _best_effort(logger, "close tracking", backend.close)
    close_run_logger(logger, log_handler)
    return RunOutcome(
        run_id=state.run_id,
        status=state.status,
        run_dir=state.run_dir,
        outputs=state.outputs,
        summary=summary,
        error=error,
        interrupt=state.interrupt,
    )


def _registration(state: _RunState, recorder: RunRecorder, logger: logging.Logger) -> dict[str, Any] | None:
    """A FINISHED run whose spec says `register:`: the `register` record to journal after its end. A
    run that logged no `model` artifact registers nothing and stays FINISHED; its summary says why."""
    if state.status is not RunStatus.FINISHED or not state.spec.register:
        return None
    record, failed = registration(state.spec.register, run_id=state.run_id, plugin=state.plugin.info.key,
                                  metrics=recorder.final_metrics, artifact_paths=recorder.artifact_paths)
    if failed is not None:
        state.registration = failed
        logger.warning("model %s", describe(failed))
        _best_effort(logger, "record the registration", lambda: recorder.journal.update_state(registered=failed))
        return None
    state.registration = {"name": record["name"], "alias": record["alias"], "version": None, "error": None}
    return record


def _write(state: _RunState, status: RunStatus, *, recorder: RunRecorder | None, logger: logging.Logger,
           ended: datetime | None = None, error: str | None = None) -> RunSummary:
    info = state.plugin.info
    backend = recorder.backend if recorder else None
    spec = state.spec.to_dict()
    recorded_spec = redact_mapping(spec)  # the record never holds a secret, not even in memory
    summary = RunSummary(
        run_id=state.run_id,
        status=status,
        plugin=PluginRef(info.key, info.version, info.extra),
        spec=recorded_spec,
        spec_redacted=tuple(changed_fields(plain := jsonable(spec), redact(plain))),  # as `to_json` records it
        started_at=state.started,
        ended_at=ended,
        duration_s=round((ended - state.started).total_seconds(), 3) if ended else None,
        pid=os.getpid(),
        host=_HOST,
        outputs=state.outputs,
        metrics=recorder.final_metrics if recorder else {},
        params=recorder.params if recorder else {},
        tags=(recorder.tags if recorder else {}) or dict(state.tags),
        tracking=TrackingInfo(
            backend=backend.name if backend else ("offline" if recorder else None),
            uri=backend.uri if backend else state.target.uri,
            experiment=state.spec.experiment or DEFAULT_EXPERIMENT,
            run_id=recorder.backend_run_id if recorder else None,
            pending=recorder.pending if recorder else 0,
            last_error=recorder.last_error if recorder else None,
        ),
        environment=state.environment,
        error=ErrorInfo(type(state.exc).__name__, error, EXCEPTION_PATH.as_posix())
        if state.exc is not None and ended is not None else None,
        registered=RegistrationInfo.of(state.registration),
    )
    try:
        summary.write(state.run_dir)
    except OSError as exc:
        logger.error("could not write the run summary: %s", exc)
    return summary


def _log_file(recorder: RunRecorder | None, path: Path, artifact_path: str) -> None:
    if recorder is not None:
        recorder.log_artifact(path, artifact_path)


def _best_effort(logger: logging.Logger, what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - finalisation must go on
        logger.warning("could not %s: %s: %s", what, type(exc).__name__, exc)
