"""`core runs repair`: a run whose process died (SIGKILL, out of memory, a lost machine) is
left RUNNING on disk and in MLflow. Repair ends it truthfully, with every metric, param and tag
its journal holds sent and kept: with the status the run had decided if it got that far (its
journaled outcome, or a final summary whose end call was never sent), else KILLED. A folder its
process left without even a summary is ended too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core._records import RecordStatus, RunRecord, abandoned, read_run
from core._runlock import held_elsewhere, locked
from core._sync import settle, sync_locked
from core._tracking.journal import Journal, has_end, release_space, trim_torn_tail
from core.contracts import RunStatus

DIED = "the run's process died without ending it (found and ended by `core runs repair`)"


@dataclass
class RepairReport:
    run_id: str
    repaired: bool
    reason: str = ""
    pending: int = 0
    error: str | None = None
    #: whether the run reached tracking at all (a start in its journal); if not, only its folder is ended
    tracked: bool = True


def needs_repair(record: RunRecord) -> bool:
    """What a bare `core runs repair` ends: DEAD runs, and runs whose process is gone after they
    decided how they ended but before their end call was journaled (MLflow still says RUNNING)."""
    if record.display_status is RecordStatus.DEAD:
        return True
    summary = record.summary
    if summary is None or not summary.status.is_terminal:
        return False
    return has_end(record.layout.journal) is False and not held_elsewhere(record.run_dir)


def repair_run(run_dir: Path, *, tracking_uri: str | None = None, died: str = DIED,
               known_dead: bool = False) -> RepairReport:
    """End a run whose process is gone, on disk and in tracking, holding the run's lock
    (`core._runlock`). `died`: the cause recorded for a run that decided nothing; `known_dead`:
    the caller saw the run's process end (`core run`'s supervisor), so no liveness check."""
    record = read_run(run_dir)
    if not known_dead and record.status is RecordStatus.RUNNING and record.alive is not False:
        return RepairReport(record.run_id, False, "not repaired: its process is still alive")
    if not known_dead and record.summary is None and not abandoned(run_dir):  # (the lock makes the folder new)
        return RepairReport(record.run_id, False, f"not repaired: {record.problem}")
    with locked(run_dir) as busy:
        if busy:
            return RepairReport(run_dir.name, False, f"not repaired now: {busy}")
        return _repair_locked(run_dir, tracking_uri, died, known_dead)


def _repair_locked(run_dir: Path, tracking_uri: str | None, died: str, known_dead: bool) -> RepairReport:
    record = read_run(run_dir)  # again, under the lock
    if record.summary is None and record.layout.summary.exists():  # unreadable, not missing
        return RepairReport(record.run_id, False, f"not repaired: {record.problem}")
    if not known_dead and record.status is RecordStatus.RUNNING and record.alive is not False:
        return RepairReport(record.run_id, False, "not repaired: its process is still alive")
    release_space(run_dir)  # the reserve its process left: room to record how it ended
    trim_torn_tail(record.layout.journal)
    journal = Journal(run_dir)
    acknowledged = journal.end is not None and journal.end["seq"] <= journal.sent_seq
    if record.summary is not None and record.summary.status.is_terminal and (acknowledged or not journal.started):
        return RepairReport(record.run_id, False, f"not repaired: it ended {record.status}")
    summary = settle(run_dir, journal, record.summary, died=died)
    journal.close()
    report = sync_locked(run_dir, tracking_uri=tracking_uri)
    try:
        from core._report import write_report

        write_report(run_dir)
    except Exception:  # noqa: BLE001 - the summary is what counts; the page is a convenience
        pass
    status = (summary.status if summary is not None else RunStatus.KILLED).value
    return RepairReport(record.run_id, True, status, report.pending, report.error, tracked=journal.started or report.rebuilt_start)

