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
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from core._errors import EXIT_TERMINATED, RunInterrupted
from core._records import RecordStatus

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class SweepJob:
    """One planned run, resolved: its spec as the user's sweep made it, and the sweep's own tags
    (`mlcore.sweep_id`, `mlcore.sweep_index`, `mlflow.parentRunId`) that core adds to the run."""

    index: int
    key: str
    spec: dict[str, Any]
    artifact_root: str
    tracking_uri: str
    #: present once the sweep is stopping: a job that has not begun must not begin
    stop_file: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


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

    @classmethod
    def lost(cls, job: SweepJob, error: str) -> JobResult:
        """A job whose worker died or was interrupted before it could answer."""
        return cls(job.index, job.key, RecordStatus.UNKNOWN, error=error)


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


def warm_worker(spec: dict[str, Any], artifact_root: str, tracking_uri: str) -> int:
    """Pay a worker's start-up costs up front, while the driver is still validating: the
    tracking stack and a connection to the store, and the plugin's own imports (validating a
    spec imports what it checks)."""
    from core._runner import prepare
    from core._spec import spec_from_mapping
    from core._tracking import open_backend, resolve_target

    try:
        prepare(spec_from_mapping(spec))
        target = resolve_target(tracking_uri, artifact_root=Path(artifact_root))
        if not target.is_memory and not target.offline:
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


def execute_job(job: SweepJob) -> JobResult:
    """Run `job.spec` through core's runner; always returns a result, never raises for a failed
    run. An interrupted run is recorded KILLED by the runner and re-raised here."""
    from core._errors import CoreError
    from core._runner import run
    from core._spec import spec_from_mapping

    global _BUSY
    pid = os.getpid()
    if job.stop_file and Path(job.stop_file).exists():  # the sweep was stopped before this one began
        return JobResult(job.index, job.key, RecordStatus.NOT_RUN, pid=pid,
                         error="the sweep was stopped before this run started")
    _BUSY = True
    try:
        outcome = run(spec_from_mapping(job.spec, source=f"sweep run {job.index}"),
                      artifact_root=job.artifact_root, tracking_uri=job.tracking_uri, extra_tags=job.tags)
    except CoreError as exc:  # bad input found only now (e.g. the artifact root): a failed run of the sweep
        return JobResult(job.index, job.key, RecordStatus.FAILED, pid=pid, error=f"{type(exc).__name__}: {exc}")
    finally:
        _BUSY = False
        if _driver_gone():  # the run is recorded (KILLED, if the driver's death interrupted it): no one waits
            _leave()
    return JobResult(job.index, job.key, RecordStatus.of(outcome.status), run_id=outcome.run_id,
                     metrics=dict(outcome.summary.metrics or {}), error=outcome.error, run_dir=str(outcome.run_dir),
                     pid=pid)
