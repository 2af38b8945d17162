"""`core runs repair`: a run whose process died (SIGKILL, out of memory, a lost machine) is
left RUNNING on disk and in MLflow. Repair ends it truthfully: KILLED in its summary and in
MLflow, with every metric, param and tag its journal holds sent and kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core._records import RecordStatus, read_run
from core._runlock import locked
from core._summary import ErrorInfo
from core._sync import sync_locked
from core._tracking.journal import Journal, trim_torn_tail
from core.contracts import RunStatus

DIED = "the run's process died without ending it (found and ended by `core runs repair`)"


@dataclass
class RepairReport:
    run_id: str
    repaired: bool
    reason: str = ""
    pending: int = 0
    error: str | None = None


def repair_run(run_dir: Path, *, tracking_uri: str | None = None) -> RepairReport:
    """End a DEAD run KILLED on disk and in tracking, holding the run's lock (`core._runlock`)."""
    record = read_run(run_dir)
    if record.status is RecordStatus.RUNNING and record.alive is not False:
        return RepairReport(record.run_id, False, "not repaired: its process is still alive")
    with locked(run_dir) as busy:
        if busy:
            return RepairReport(run_dir.name, False, f"not repaired now: {busy}")
        return _repair_locked(run_dir, tracking_uri)


def _repair_locked(run_dir: Path, tracking_uri: str | None) -> RepairReport:
    record = read_run(run_dir)
    if record.display_status is not RecordStatus.DEAD or record.summary is None:
        why = "its process is still alive" if record.status is RecordStatus.RUNNING else f"it ended {record.status}"
        return RepairReport(record.run_id, False, f"not repaired: {why}")
    trim_torn_tail(record.layout.journal)
    ended = datetime.now(timezone.utc)
    journal = Journal(run_dir)
    if not any(r["op"] == "end" for r in journal.records()):
        journal.append("end", status=RunStatus.KILLED.value, time=int(ended.timestamp() * 1000))
    journal.close()
    started = record.started
    record.summary.replace(
        status=RunStatus.KILLED, ended_at=ended,
        duration_s=round((ended - started).total_seconds(), 3) if started else None,
        metrics=record.journal_final_metrics, params=record.params, tags=record.tags,
        error=ErrorInfo("ProcessDied", DIED, None),
    ).write(run_dir)
    report = sync_locked(run_dir, tracking_uri=tracking_uri)
    try:
        from core._report import write_report

        write_report(run_dir)
    except Exception:  # noqa: BLE001 - the summary is what counts; the page is a convenience
        pass
    return RepairReport(record.run_id, True, RunStatus.KILLED.value, report.pending, report.error)

