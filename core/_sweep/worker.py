"""One sweep run, wherever it executes (this process, a pool worker, a Ray worker), and what
travels there and back: `SweepJob` out, `JobResult` back.

Both are frozen dataclasses of builtins and one enum, so they pickle for spawned processes and
Ray alike. The worker is told the artifact root and tracking URI explicitly (absolute), never
left to find them from its own environment or working directory.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core._records import RecordStatus

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class SweepJob:
    """One planned run, resolved: its spec already carries the sweep's tags."""

    index: int
    key: str
    spec: dict[str, Any]
    artifact_root: str
    tracking_uri: str
    #: present once the sweep is stopping: a job that has not begun must not begin
    stop_file: str | None = None


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


def init_pool_worker(threads: int) -> None:
    """Pool initializer: split the cores between the workers rather than oversubscribe them, and
    leave Ctrl-C and SIGTERM to the driver while idle. During a run core's own handlers take
    over, so the driver's SIGTERM ends exactly the runs in progress, as KILLED."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


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

    pid = os.getpid()
    if job.stop_file and Path(job.stop_file).exists():  # the sweep was stopped before this one began
        return JobResult(job.index, job.key, RecordStatus.NOT_RUN, pid=pid,
                         error="the sweep was stopped before this run started")
    try:
        outcome = run(spec_from_mapping(job.spec, source=f"sweep run {job.index}"),
                      artifact_root=job.artifact_root, tracking_uri=job.tracking_uri)
    except CoreError as exc:  # bad input found only now (e.g. the artifact root): a failed run of the sweep
        return JobResult(job.index, job.key, RecordStatus.FAILED, pid=pid, error=f"{type(exc).__name__}: {exc}")
    return JobResult(job.index, job.key, RecordStatus.of(outcome.status), run_id=outcome.run_id,
                     metrics=dict(outcome.summary.metrics or {}), error=outcome.error, run_dir=str(outcome.run_dir),
                     pid=pid)
