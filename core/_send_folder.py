"""A run folder that stays on the node that ran it (a sweep on a Ray cluster, no shared disk) is sent
whole (summary, log, journal, report, models, plots) to its MLflow run's artifacts when the run ends,
so neither the driver nor `core runs fetch` ever needs that node's disk.

It is sent once tracking has every call of the run. When some are still pending then (the server
was down), the folder is marked (`tracking/send_folder`) and `core sync`, on that node, sends it
after the calls; a send that fails keeps the mark for the next `core sync`.
"""

from __future__ import annotations

from pathlib import Path

from core._tracking import TrackingTarget, open_backend
from core._tracking.backend import folder_files

MARKER = "tracking/send_folder"
#: what of a run folder is never sent: the lock, the disk reserve, the mark itself
SKIP = ("tracking/run.lock", "tracking/reserve", MARKER)


def mark_unsent(run_dir: Path) -> None:
    """Leave the folder for `core sync` to send."""
    (run_dir / MARKER).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / MARKER).write_text("the run folder is not in tracking yet: core sync sends it\n", encoding="utf-8")


def is_marked(run_dir: Path) -> bool:
    return (run_dir / MARKER).is_file()


def send_folder(run_dir: Path, target: TrackingTarget, backend_run_id: str) -> bool:
    """Send the whole folder to run `backend_run_id`'s artifacts; True when all of it went, else the
    folder is marked for `core sync` (and the mark cleared once it went)."""
    try:
        backend = open_backend(target)
        try:
            for path, artifact_path in folder_files(run_dir, run_dir, None):
                if path.relative_to(run_dir).as_posix() not in SKIP:
                    backend.log_artifact(backend_run_id, path, artifact_path)
        finally:
            backend.close()
    except Exception:  # noqa: BLE001 - the folder stays here, marked: `core sync` sends it later
        mark_unsent(run_dir)
        return False
    (run_dir / MARKER).unlink(missing_ok=True)
    return True
