"""One sweep run, wherever it executes (this process, a pool worker, a Ray worker), and what
travels there and back: `SweepJob` out, `JobResult` back.

Both are frozen dataclasses of builtins and one enum, so they pickle for spawned processes and
Ray alike. The worker is told the artifact root and tracking URI explicitly (absolute), never
left to find them from its own environment or working directory.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from core._errors import EXIT_TERMINATED, RunInterrupted
from core._records import RecordStatus

#: the tag a retried run carries: the run id of the attempt whose task was lost
RETRY_TAG = "mlcore.retry_of"
NODE = socket.gethostname()
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class SweepJob:
    """One planned run, resolved: its spec as the user's sweep made it, and the sweep's own tags
    (`mlcore.sweep_id`, `mlcore.sweep_index`, `mlflow.parentRunId`) that core adds to the run."""

    index: int
    key: str
    spec: dict[str, Any]
    #: None: the node's own root (`node_artifact_root`), for a run on a cluster with no shared file system
    artifact_root: str | None
    tracking_uri: str
    #: present once the sweep is stopping: a job that has not begun must not begin
    stop_file: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: made by the driver, so it knows which run a lost task was running
    run_id: str | None = None
    #: the run this one retries (its task was lost), and how many tries came before
    retry_of: str | None = None
    attempt: int = 0
    #: the search trial this run is (`core._sweep.trial.TrialRef`), None outside a search
    trial: Any = None
    #: `name version` of the distribution that provides the plugin on the driver, to name it on a node that lacks it
    plugin_dist: str | None = None
    #: False: the driver could not use the local tracking service, so the run sends in-process at once
    #: rather than trying it again (`core._sweep.tracking`); True: as a single run does
    tracking_service: bool = True

    @property
    def node_local(self) -> bool:
        """The run's folder lives on the node that runs it, not under the driver's root."""
        return self.artifact_root is None


@dataclass(frozen=True)
class JobResult:
    """How a job ended, as the worker saw it; the run folder stays the truth (see `table.build_rows`)."""

    index: int
    key: str
    status: RecordStatus
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    run_dir: str | None = None
    pid: int | None = None
    #: the host that ran it
    node: str | None = None
    #: the run's summary (`RunSummary.to_json()`), for a run whose folder is on another node
    summary: dict[str, Any] | None = None
    #: tracking calls still unsent when the task returned (they wait in the run's journal, on `node`)
    pending: int = 0
    #: the task was lost with its worker or node (not a failure of the run itself)
    node_lost: bool = False

    @classmethod
    def lost(cls, job: SweepJob, error: str, *, node_lost: bool = False) -> JobResult:
        """A job whose worker died or was interrupted before it could answer."""
        return cls(job.index, job.key, RecordStatus.UNKNOWN, error=error, node_lost=node_lost)


#: in a pool worker, the pid of the driver that started it (None elsewhere, e.g. the sequential executor)
_DRIVER: int | None = None
#: a pool worker is inside `execute_job`
_BUSY = False
_PR_SET_PDEATHSIG = 1


def init_pool_worker(threads: int, driver: int | None = None) -> None:
    """Pool initializer: split the cores between the workers rather than oversubscribe them, and
    leave Ctrl-C and SIGTERM to the driver while idle. During a run core's own handlers take
    over, so the driver's SIGTERM ends exactly the runs in progress, as KILLED.

    A worker whose driver is gone (killed outright: it could not stop its pool) ends too: SIGTERM
    comes from the kernel when the driver dies (Linux, `PR_SET_PDEATHSIG`; elsewhere a thread
    watching `os.getppid()` sends it), a run in progress ends KILLED through core's own handling,
    its record written, and the worker exits; an idle one exits at once."""
    global _DRIVER
    _DRIVER = driver if driver is not None else os.getppid()
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _sigterm_between_runs)
    _watch_driver()


def _driver_gone() -> bool:
    return _DRIVER is not None and os.getppid() != _DRIVER


def _leave() -> NoReturn:
    """End a worker whose driver is gone; any run it had is recorded by now."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more to say on it
            pass
    os._exit(EXIT_TERMINATED)


def _sigterm_between_runs(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside core's own handling: ignored while the driver lives (it stops runs, not idle
    workers); once it is gone an idle worker leaves, and a job not yet in its run stops there."""
    if not _driver_gone():
        return
    if not _BUSY:
        _leave()
    raise RunInterrupted("SIGTERM")


def _watch_driver() -> None:
    """Have SIGTERM sent to this worker when its driver dies."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
        except (OSError, AttributeError):  # no prctl to call: watch instead
            armed = False
        if armed:
            if _driver_gone():  # it died before the signal was armed
                os.kill(os.getpid(), signal.SIGTERM)
            return
    threading.Thread(target=_poll_driver, name="mlcore-driver-watch", daemon=True).start()


def _poll_driver() -> None:
    while not _driver_gone():
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def warm_worker(spec: dict[str, Any], artifact_root: str, tracking_uri: str, open_store: bool = True) -> int:
    """Pay a worker's start-up costs up front, while the driver is still validating: the plugin's
    own imports (validating a spec imports what it checks) and, when its runs will track in-process
    (`open_store`), MLflow and a connection to the store. Runs that go through the sweep's tracking
    service need neither: the worker then never imports MLflow for tracking."""
    from core._runner import prepare
    from core._spec import spec_from_mapping
    from core._tracking import open_backend, resolve_target

    try:
        prepare(spec_from_mapping(spec))
        target = resolve_target(tracking_uri, artifact_root=Path(artifact_root))
        if open_store and not target.is_memory and not target.offline:
            open_backend(target).close()
    except Exception:  # noqa: BLE001 - the driver reports bad specs and tracking trouble; this only saves time
        pass
    return os.getpid()


def validate_specs(specs: list[tuple[dict[str, Any], str]]) -> str | None:
    """Validate every (spec, source) as `core run` would; the first bad-input message, or None.
    Run in a pool worker, it spares the driver the plugin's imports: the worker needs them anyway."""
    from core._errors import BadInput
    from core._runner import prepare
    from core._spec import spec_from_mapping

    for spec, source in specs:
        try:
            prepare(spec_from_mapping(spec, source=source), source=source)
        except BadInput as exc:
            return str(exc)
    return None


def node_artifact_root() -> Path:
    """Where a node keeps the run folders of sweep runs it executes for a driver elsewhere:
    `CORE_ARTIFACT_ROOT` as the node's environment has it (`CORE_ARTIFACT_ROOT=/data/mlcore ray start ...`:
    Ray's workers inherit the environment their node was started with), else a folder in the node's
    temporary directory."""
    configured = os.environ.get("CORE_ARTIFACT_ROOT")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(tempfile.gettempdir()) / f"mlcore-artifacts-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def execute_job(job: SweepJob) -> JobResult:
    """Run `job.spec` through core's runner; always returns a result, never raises for a failed
    run. An interrupted run is recorded KILLED by the runner and re-raised here (with `.outcome`)."""
    from core._errors import CoreError
    from core._runner import run
    from core._spec import spec_from_mapping

    global _BUSY
    pid = os.getpid()
    if job.stop_file and Path(job.stop_file).exists():  # the sweep was stopped before this one began
        return JobResult(job.index, job.key, RecordStatus.NOT_RUN, pid=pid, node=NODE,
                         error="the sweep was stopped before this run started")
    root = node_artifact_root() if job.node_local else job.artifact_root
    tags = dict(job.tags)
    if job.retry_of:
        tags[RETRY_TAG] = job.retry_of
    _BUSY = True
    try:
        outcome = run(spec_from_mapping(job.spec, source=f"sweep run {job.index}"),
                      artifact_root=root, tracking_uri=job.tracking_uri, extra_tags=tags, run_id=job.run_id,
                      trial=job.trial.reporter() if job.trial is not None else None,
                      tracking_service=job.tracking_service)
    except CoreError as exc:  # bad input found only now (e.g. the artifact root): a failed run of the sweep
        where = f" on node {NODE}" if job.node_local else ""
        error = missing_plugin(job, exc) if job.node_local else None
        return JobResult(job.index, job.key, RecordStatus.FAILED, pid=pid, node=NODE,
                         error=error or f"{type(exc).__name__}{where}: {exc}")
    finally:
        _BUSY = False
        if _driver_gone():  # the run is recorded (KILLED, if the driver's death interrupted it): no one waits
            _leave()
    return result_of(job, outcome)


def missing_plugin(job: SweepJob, exc: BaseException) -> str | None:
    """One line for a plugin this node lacks (or cannot import for a missing module), naming the node and
    the distribution the driver has it from; None for any other error."""
    from core._errors import PluginLoadError, PluginNotFound

    key = job.spec.get("plugin")
    dist = job.plugin_dist or "its distribution"
    fix = "install it on the node (its image), or ship it with --ray-runtime-env (pip or py_modules)"
    if isinstance(exc, PluginNotFound):
        return (f"PluginNotFound on node {NODE}: plugin '{key}' is not installed there: the distribution {dist} "
                f"(as the driver has it) is missing on that node; {fix}")
    text = str(exc)
    if isinstance(exc, PluginLoadError) and "No module named" in text:
        module = text.split("No module named", 1)[1].split("\n", 1)[0].strip(" '\"")
        return (f"PluginLoadError on node {NODE}: plugin '{key}' cannot be imported there: No module named "
                f"'{module}' (needed by {dist}); install {dist} with its dependencies on the node, or ship them "
                "with --ray-runtime-env (pip or py_modules)")
    return None


def result_of(job: SweepJob, outcome: Any) -> JobResult:
    """The `JobResult` of a run's `RunOutcome` (also of one interrupted: the runner attaches it to the
    exception). A node-local run first sends its whole folder to tracking and retries what it could
    not send, then carries its summary back to the driver."""
    summary = outcome.summary
    if job.node_local:
        summary = finish_remote_run(outcome, job.tracking_uri)
    pending = summary.tracking.pending if summary.tracking else 0
    return JobResult(job.index, job.key, RecordStatus.of(outcome.status), run_id=outcome.run_id,
                     metrics=dict(summary.metrics or {}), error=outcome.error, run_dir=str(outcome.run_dir),
                     pid=os.getpid(), node=NODE, summary=summary.to_json() if job.node_local else None,
                     pending=pending or 0)


def finish_remote_run(outcome: Any, tracking_uri: str) -> Any:
    """For a run whose folder stays on this node: send what tracking still lacks once more (`core
    sync`), then the whole run folder to the run's artifacts (`core._send_folder`), so the driver and
    `core runs fetch` never need this node's disk. Best-effort: what is still pending is in the
    summary's pending count (reported to the driver with this node's name), and the folder, marked,
    goes with the next `core sync` on this node."""
    from core._records import read_run
    from core._send_folder import mark_unsent, send_folder
    from core._sync import sync_run
    from core._tracking import resolve_target

    summary = outcome.summary
    run_dir = Path(outcome.run_dir)
    tracking = summary.tracking
    if tracking is None or tracking.uri in (None, "memory") or tracking.backend in (None, "fake"):
        return summary
    if tracking.pending:
        try:
            sync_run(run_dir, tracking_uri=tracking_uri)
        except Exception:  # noqa: BLE001 - still pending: reported to the driver with this node's name
            pass
        summary = read_run(run_dir).summary or summary
    if summary.tracking and summary.tracking.run_id and not summary.tracking.pending:
        send_folder(run_dir, resolve_target(tracking_uri, artifact_root=run_dir.parent.parent), summary.tracking.run_id)
    else:
        mark_unsent(run_dir)
    return summary
