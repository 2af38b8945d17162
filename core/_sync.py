"""`core sync`: send what runs could not (or, offline, did not) send to tracking.

Reads each run's journal past its acknowledged watermark and replays it in
order through the same code a live run uses, so each call is sent once: no
duplicate metrics, no second MLflow run. The run summary is updated to match.
One process at a time works on a run (`core._runlock`): concurrent syncs and
repairs of one run queue instead of each sending everything.

A run whose process is gone is also settled here (`settle`): when the run decided
how it ended (its journal's `outcome`, or a final summary) but was killed before its
end call was journaled, the end is journaled with that status and sent, so the
summary and MLflow agree; `core runs repair` does the same and also ends runs that
decided nothing (KILLED).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core._errors import BadInput
from core._layout import RunLayout
from core._models import registration
from core._records import read_run, run_folders
from core._redact import scrub
from core._runlock import locked
from core._safefiles import regular_file
from core._send_folder import is_marked, send_folder
from core._summary import CorruptSummary, ErrorInfo, PluginRef, RegistrationInfo, RunSummary, TrackingInfo
from core._tracking import (
    DEFAULT_EXPERIMENT,
    TrackingTarget,
    open_backend,
    prepare_experiment,
    public_uri,
    resolve_target,
)
from core._tracking.backend import RUN_ID_TAG
from core._tracking.journal import Journal, release_space
from core._tracking.recorder import SendError, send_records
from core._tracking.target import recorded_target
from core.contracts import RunStatus


@dataclass
class SyncReport:
    run_id: str
    sent: Counter = field(default_factory=Counter)
    pending: int = 0
    backend_run_id: str | None = None
    error: str | None = None
    skipped: str | None = None
    #: journal lines corrupted on disk: their calls are lost; every other record was sent around them
    corrupt_lines: list[int] = field(default_factory=list)
    #: the run's model registration as it stands after this sync (`RegistrationInfo` fields), if it asked for one
    registered: dict[str, Any] | None = None
    #: the journal's start line was corrupt: the start was rebuilt from the summary (`rebuilt_start`)
    rebuilt_start: bool = False
    #: a run folder kept on its node (a Ray sweep) was sent whole to the run's artifacts now (`core._send_folder`)
    folder_sent: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def pending_runs(root: Path, problems: list[str] | None = None) -> list[Path]:
    """Run folders `core sync` has work in: calls the backend has not acknowledged, an ended run
    whose end call was never journaled, or a summary that lags behind the journal. A run folder
    whose tracking files cannot be read (a corrupt journal line or state, a folder it may not
    read, a FIFO) is skipped, with one line saying why in `problems`: it stops no other run."""
    found = []
    for run_dir in run_folders(root):  # no link out of runs/ is followed
        try:
            layout = RunLayout(run_dir)
            if not layout.journal_dir.is_dir():
                continue
            for path in (layout.journal, layout.tracking_state):
                if os.path.lexists(path) and regular_file(path, run_dir) is None:
                    raise OSError(f"{path.relative_to(run_dir)} is not a regular file in the run folder")
            journal = Journal(run_dir)
            if journal.last_seq > journal.sent_seq or _lags(run_dir, journal) or is_marked(run_dir):
                found.append(run_dir)
        except Exception as exc:  # noqa: BLE001 - any unreadable record: reported, and the other runs synced
            if problems is not None:
                problems.append(f"{run_dir.name}: skipped: {scrub(' '.join(f'{type(exc).__name__}: {exc}'.split()))[:300]}")
    return found


def _lags(run_dir: Path, journal: Journal) -> bool:
    summary = _summary_or_none(run_dir)
    if summary is None:
        return False
    if _decided(journal, summary) is not None and (
            (journal.started and journal.end is None) or summary.status is RunStatus.RUNNING):
        return True
    return summary.tracking.pending != 0 or summary.tracking.run_id != journal.state.get("backend_run_id")


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
    release_space(run_dir)  # the reserve of a run that died with it: room for what is written now
    journal = Journal(run_dir)  # read under the lock: what another sync sent is acknowledged now
    summary = _summary_or_none(run_dir)
    start = rebuilt_start(journal, summary)
    if start is not None:
        journal.started = True  # so a missing end is journaled, and the end is sent, not dropped as startless
    settle(run_dir, journal, summary)
    report.corrupt_lines = list(journal.corrupt_lines)
    records = journal.pending()
    if start is not None and records:
        records = [start, *records]
        report.rebuilt_start = True
    report.registered = _registration_state(journal)
    if not records:
        report.backend_run_id = journal.state.get("backend_run_id")
        _update_summary(run_dir, report, None)  # a sync killed before it could say so
        _send_marked_folder(run_dir, report, journal, tracking_uri)
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
    report.pending = len(records) - sent - (1 if report.rebuilt_start and sent == 0 else 0)  # the start is no journal line
    report.backend_run_id = journal.state.get("backend_run_id")
    report.registered = _registration_state(journal)
    _update_summary(run_dir, report, target)
    _send_marked_folder(run_dir, report, journal, tracking_uri)
    return report


def rebuilt_start(journal: Journal, summary: RunSummary | None) -> dict[str, Any] | None:
    """The `start` record of a run whose journal's start line is corrupt on disk, rebuilt from its summary.

    Without a start nothing after it can be sent (there is no MLflow run to send it to), so one corrupt
    first line would keep every later call of the run pending for ever. The summary holds what the start
    said: the run id, the plugin, the run's name and experiment, the tags core recorded (its own tags
    among them, so MLflow's run is found again by `mlcore.run_id` if it was made after all) and the start
    time. None when the journal has its start, the run reached tracking, no line is corrupt (a run killed
    before it journaled its start has nothing else to send either) or there is no summary to rebuild from.
    Its `seq` is the watermark: sending it acknowledges no journal line."""
    if journal.started or journal.state.get("backend_run_id") or not journal.corrupt_lines or summary is None:
        return None
    if summary.started_at is None:
        return None
    spec_experiment = summary.spec.get("experiment")
    experiment = summary.tracking.experiment or (spec_experiment if isinstance(spec_experiment, str) else None)
    return {
        "seq": journal.sent_seq,
        "op": "start",
        "experiment": experiment or DEFAULT_EXPERIMENT,
        "run_name": summary.name or summary.run_id,
        "tags": {**summary.tags, "plugin": summary.plugin.key, RUN_ID_TAG: summary.run_id},
        "time": int(summary.started_at.timestamp() * 1000),
    }


def _send_marked_folder(run_dir: Path, report: SyncReport, journal: Journal, tracking_uri: str | None) -> None:
    """A folder its node could not send when the run ended goes once tracking has all the run's calls."""
    if is_marked(run_dir) and not report.pending and report.backend_run_id:
        report.folder_sent = send_folder(run_dir, _target(journal, run_dir, tracking_uri), report.backend_run_id)


def _registration_state(journal: Journal) -> dict[str, Any] | None:
    """What came of the run's model registration: tracking's answer, else the journaled request (pending)."""
    if journal.state.get("registered"):
        return dict(journal.state["registered"])
    if journal.register is not None:
        return {"name": journal.register.get("name"), "alias": journal.register.get("alias"), "version": None}
    return None


def _target(journal: Journal, run_dir: Path, override: str | None) -> TrackingTarget:
    if override:
        return resolve_target(override, artifact_root=RunLayout(run_dir).root)
    uri = journal.state.get("target_uri")
    if not uri:
        raise BadInput(f"run {run_dir.name} does not record where it tracks to: pass --tracking-uri")
    # The embedded store of the root the run was in is the embedded store of the root it is in now.
    return recorded_target(uri, journal.state.get("artifact_location"), artifact_root=RunLayout(run_dir).root)


def _still_running(run_dir: Path) -> bool:
    """Its own process is alive and sending (pid checked, pid reuse detected): `core._records`."""
    return bool(read_run(run_dir).alive)


def _summary_or_none(run_dir: Path) -> RunSummary | None:
    try:
        return RunSummary.read(run_dir)
    except (OSError, CorruptSummary):
        return None


def _update_summary(run_dir: Path, report: SyncReport, target: TrackingTarget | None) -> None:
    """The summary's tracking block as the journal's state says it is now (written only if it changed)."""
    summary = _summary_or_none(run_dir)
    if summary is None:
        return
    tracking = summary.tracking
    backend, uri = tracking.backend, tracking.uri
    if target is not None:
        backend, uri = ("memory" if target.is_memory else "mlflow"), public_uri(target.uri)
    elif report.backend_run_id and backend in (None, "offline"):
        backend = "mlflow"
    lost = (f"journal line(s) {', '.join(map(str, report.corrupt_lines[:20]))} corrupt on disk: those calls are "
            "lost" if report.corrupt_lines else None)
    updated = TrackingInfo(
        backend=backend,
        uri=uri,
        experiment=tracking.experiment,
        run_id=report.backend_run_id,
        pending=report.pending,
        last_error=report.error or lost,  # the record says a call was lost, long after this sync's output
    )
    registered = RegistrationInfo.of(report.registered) or summary.registered
    if updated != tracking or registered != summary.registered:
        summary.replace(tracking=updated, registered=registered).write(run_dir)


def _decided(journal: Journal, summary: RunSummary | None) -> tuple[RunStatus, int | None, ErrorInfo | None] | None:
    """How the run ended, by what it wrote last: the end call, else the journaled outcome, else a
    final summary. None when it decided nothing (it died RUNNING)."""
    record = journal.end or journal.outcome
    if record is not None:
        status = RunStatus(record["status"])
        kind = record.get("error_type")
        error = ErrorInfo(kind, record.get("error"), None) if kind else None
        if summary is not None and summary.error is not None and summary.status is status:
            error = summary.error  # the summary's also names the error file
        return status, record.get("time"), error
    if summary is not None and summary.status.is_terminal:
        ended = summary.ended_at
        return summary.status, int(ended.timestamp() * 1000) if ended else None, summary.error
    return None


def settle(run_dir: Path, journal: Journal, summary: RunSummary | None, *,
           died: str | None = None) -> RunSummary | None:
    """Make the journal and the summary of a run whose process is gone agree on how it ended.

    The status is what the run decided (`_decided`); with `died` (`core runs repair`), a run that
    decided nothing ends KILLED with that cause. The end call is journaled if it is missing (only
    after a start: a run that never reached tracking has nothing to end), and the summary is
    rewritten when it says otherwise. Returns the summary as it now is. The caller holds the lock.
    """
    decided = _decided(journal, summary)
    if decided is None:
        if died is None:
            return summary
        decided = (RunStatus.KILLED, None, ErrorInfo("ProcessDied", died, None))
    status, time_ms, error = decided
    ended = datetime.fromtimestamp(time_ms / 1000, timezone.utc) if time_ms else datetime.now(timezone.utc)
    if journal.started and journal.end is None:
        journal.append("end", status=status.value, time=time_ms or int(ended.timestamp() * 1000))
        journal.close()
    if status is RunStatus.FINISHED and journal.end is not None:
        _journal_registration(run_dir, journal)
    if summary is not None and summary.status is status and summary.ended_at is not None:
        return summary
    record = read_run(run_dir)
    base = summary or _bare_summary(run_dir, record.journal_records())
    started = base.started_at
    settled = base.replace(
        status=status, ended_at=ended,
        duration_s=round((ended - started).total_seconds(), 3) if started else None,
        metrics=dict(base.metrics) or record.journal_final_metrics, params=dict(base.params) or record.params,
        tags=dict(base.tags) or record.tags, error=error,
        # the outputs the run journaled with its outcome: a run killed before its final summary keeps them
        outputs=dict(base.outputs or {}) or dict((journal.outcome or {}).get("outputs") or {}),
    )
    settled.write(run_dir)
    return settled


def _journal_registration(run_dir: Path, journal: Journal) -> None:
    """A FINISHED run that asked to register its model and was killed before it journaled that: the
    `register` record it would have written (once: a journaled one, or a result, means it was)."""
    request = journal.state.get("register_request")
    if not request or journal.register is not None or journal.state.get("registered"):
        return
    record = read_run(run_dir)
    records = list(record.journal_records())
    start = next((r for r in records if r.get("op") == "start"), {})
    artifacts = {str(r.get("artifact_path") or "").strip("/") for r in records if r.get("op") == "artifact"}
    fields, failed = registration(request, run_id=run_dir.name, plugin=str((start.get("tags") or {}).get("plugin")),
                                  metrics=record.journal_final_metrics, artifact_paths=artifacts)
    if failed is not None:
        journal.update_state(registered=failed)
    else:
        journal.append("register", **(fields or {}))
        journal.close()


def _bare_summary(run_dir: Path, records: Any) -> RunSummary:
    """A summary for a folder that has none (its process was killed in its first milliseconds):
    what the journal's start says, else the folder's name and age."""
    start = next((r for r in records if r.get("op") == "start"), None)
    tags = start.get("tags", {}) if start else {}
    if start and isinstance(start.get("time"), int):
        started = datetime.fromtimestamp(start["time"] / 1000, timezone.utc)
    else:
        started = datetime.fromtimestamp(run_dir.stat().st_mtime, timezone.utc)
    return RunSummary(run_id=run_dir.name, status=RunStatus.RUNNING, plugin=PluginRef(tags.get("plugin", "unknown")),
                      started_at=started, tracking=TrackingInfo(experiment=start.get("experiment") if start else None))
