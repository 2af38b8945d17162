"""`core sync`: send what runs could not (or, offline, did not) send to tracking.

Reads each run's journal past its acknowledged watermark and replays it in
order through the same code a live run uses, so each call is sent once: no
duplicate metrics, no second MLflow run. The run summary is updated to match.
One process at a time works on a run (`core._runlock`): concurrent syncs and
repairs of one run queue instead of each sending everything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core._errors import BadInput
from core._layout import RunLayout, runs_dir
from core._records import read_run
from core._redact import scrub
from core._runlock import locked
from core._summary import CorruptSummary, RunSummary, TrackingInfo
from core._tracking import DEFAULT_EXPERIMENT, TrackingTarget, open_backend, prepare_experiment, resolve_target
from core._tracking.journal import Journal
from core._tracking.recorder import SendError, send_records


@dataclass
class SyncReport:
    run_id: str
    sent: Counter = field(default_factory=Counter)
    pending: int = 0
    backend_run_id: str | None = None
    error: str | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def pending_runs(root: Path) -> list[Path]:
    """Run folders whose journal holds calls the backend has not acknowledged."""
    found = []
    base = runs_dir(root)
    if not base.exists():
        return found
    for run_dir in sorted(p for p in base.iterdir() if RunLayout(p).journal_dir.is_dir()):
        journal = Journal(run_dir)
        if journal.last_seq > journal.sent_seq:
            found.append(run_dir)
    return found


def sync_run(run_dir: Path, *, tracking_uri: str | None = None) -> SyncReport:
    """Send one run's pending calls, holding the run's lock, so no other sync or repair sends them too."""
    report = SyncReport(run_id=run_dir.name)
    if _still_running(run_dir):
        report.skipped = "the run is still running; its own process is sending"
        report.pending = len(Journal(run_dir).pending())
        return report
    with locked(run_dir) as busy:
        if busy:
            report.skipped = f"not now: {busy}"
            return report
        return sync_locked(run_dir, tracking_uri=tracking_uri, report=report)


def sync_locked(run_dir: Path, *, tracking_uri: str | None = None, report: SyncReport | None = None) -> SyncReport:
    """`sync_run` for a caller that holds the run's lock (`core runs repair`)."""
    report = report or SyncReport(run_id=run_dir.name)
    journal = Journal(run_dir)  # read under the lock: what another sync sent is acknowledged now
    records = journal.pending()
    if not records:
        report.backend_run_id = journal.state.get("backend_run_id")
        return report
    target = _target(journal, run_dir, tracking_uri)
    backend = None
    try:
        backend = open_backend(target)
        experiment = next((r["experiment"] for r in journal.records() if r["op"] == "start"), DEFAULT_EXPERIMENT)
        prepare_experiment(backend, target, experiment)
        sent = send_records(backend, journal, records)
    except SendError as exc:
        sent = exc.sent
        cause = exc.__cause__ or exc
        report.error = scrub(f"{type(cause).__name__}: {cause}")
    except Exception as exc:  # noqa: BLE001 - the store could not even be opened
        sent = 0
        report.error = scrub(f"{type(exc).__name__}: {exc}")
    finally:
        if backend is not None:
            backend.close()
    report.sent = Counter(r["op"] for r in records[:sent])
    report.pending = len(records) - sent
    report.backend_run_id = journal.state.get("backend_run_id")
    _update_summary(run_dir, report, target)
    return report


def _target(journal: Journal, run_dir: Path, override: str | None) -> TrackingTarget:
    if override:
        return resolve_target(override, artifact_root=RunLayout(run_dir).root)
    uri = journal.state.get("target_uri")
    if not uri:
        raise BadInput(f"run {run_dir.name} does not record where it tracks to: pass --tracking-uri")
    target = resolve_target(uri, artifact_root=RunLayout(run_dir).root)
    location = journal.state.get("artifact_location")
    return TrackingTarget(target.uri, location or target.artifact_location)


def _still_running(run_dir: Path) -> bool:
    """Its own process is alive and sending (pid checked, pid reuse detected): `core._records`."""
    return bool(read_run(run_dir).alive)


def _update_summary(run_dir: Path, report: SyncReport, target: TrackingTarget) -> None:
    try:
        summary = RunSummary.read(run_dir)
    except (OSError, CorruptSummary):
        return
    tracking = summary.tracking
    summary.replace(tracking=TrackingInfo(
        backend="memory" if target.is_memory else "mlflow",
        uri=target.uri,
        experiment=tracking.experiment,
        run_id=report.backend_run_id,
        pending=report.pending,
        last_error=report.error,
    )).write(run_dir)
