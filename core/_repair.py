"""`core runs repair`: a run whose process died (SIGKILL, out of memory, a lost machine) is
left RUNNING on disk and in MLflow. Repair ends it truthfully: KILLED in its summary and in
MLflow, with every metric, param and tag its journal holds sent and kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core._records import DEAD, read_run
from core._summary import iso, write_summary
from core._sync import sync_run
from core._tracking.journal import JOURNAL_DIR, JOURNAL_FILE, Journal

DIED = "the run's process died without ending it (found and ended by `core runs repair`)"


@dataclass
class RepairReport:
    run_id: str
    repaired: bool
    reason: str = ""
    pending: int = 0
    error: str | None = None


def repair_run(run_dir: Path, *, tracking_uri: str | None = None) -> RepairReport:
    record = read_run(run_dir)
    if record.display_status != DEAD:
        why = "its process is still alive" if record.status == "RUNNING" else f"it ended {record.status}"
        return RepairReport(record.run_id, False, f"not repaired: {why}")
    _trim_torn_line(run_dir / JOURNAL_DIR / JOURNAL_FILE)
    ended = datetime.now(timezone.utc)
    journal = Journal(run_dir)
    if not any(r["op"] == "end" for r in journal.records()):
        journal.append("end", status="KILLED", time=int(ended.timestamp() * 1000))
    journal.close()
    summary = dict(record.summary)
    started = record.started
    summary.update(
        status="KILLED", ended_at=iso(ended),
        duration_s=round((ended - started).total_seconds(), 3) if started else None,
        metrics=record.journal_final_metrics, params=summary.get("params") or record.params,
        tags=summary.get("tags") or record.tags,
        error={"type": "ProcessDied", "message": DIED, "traceback": None},
    )
    write_summary(run_dir, summary)
    report = sync_run(run_dir, tracking_uri=tracking_uri)
    try:
        from core._report import write_report

        write_report(run_dir)
    except Exception:  # noqa: BLE001 - the summary is what counts; the page is a convenience
        pass
    return RepairReport(record.run_id, True, "KILLED", report.pending, report.error)


def _trim_torn_line(path: Path) -> None:
    """A kill mid-write can leave half a journal line; it was never a complete call, so drop it
    before anything is appended after it."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])
