"""`core runs fetch RUN_ID`: bring the folder of a run that ran on another node (a sweep on a Ray
cluster, no shared disk) from the tracking server into this artifact root's `runs/<run id>/`.

The node sent its whole run folder to the run's MLflow artifacts when the run ended (the summary,
log, journal, report and everything the plugin wrote); the driver kept only its summary
(`sweeps/<id>/runs/<run id>/summary.json`), which says where it tracked to. Once fetched, the run is
an ordinary run folder here: `core runs show`, `compare` and `context.run_file` read it as any other.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from core._errors import BadInput, CoreError
from core._layout import runs_dir
from core._records import find_run, read_run
from core._tracking import TrackingTarget, open_backend
from core._tracking.target import public_uri


@dataclass(frozen=True)
class Fetched:
    run_id: str
    folder: Path
    files: int
    already: bool = False


def fetch_run(root: Path, run_id: str, *, tracking_uri: str | None = None) -> Fetched:
    """Download run `run_id`'s artifacts into `<root>/runs/<run id>/` (a temporary folder renamed into
    place, so a fetch cut short leaves no half folder). `tracking_uri`: the server's URI with whatever
    credentials it needs (default: where the run tracked to, as its summary says)."""
    folder = find_run(root, run_id, held=True)
    record = read_run(folder)
    summary = record.summary
    if folder.parent == runs_dir(root):
        return Fetched(record.run_id, folder, 0, already=True)
    if summary is None or summary.tracking is None or not summary.tracking.run_id:
        raise BadInput(f"run '{record.run_id}' never reached tracking: its folder is only on {summary.host if summary else 'its node'}")
    uri = tracking_uri or summary.tracking.uri
    if not uri or not uri.startswith(("http://", "https://", "databricks")):
        raise BadInput(f"run '{record.run_id}' tracked to '{uri}', not a tracking server: its folder is on "
                       f"{summary.host} (pass --tracking-uri if the server has it)")
    dest = runs_dir(root) / record.run_id
    partial = dest.with_name(f".{record.run_id}.fetching")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    backend = open_backend(TrackingTarget(uri, None))
    try:
        backend.client.download_artifacts(summary.tracking.run_id, "", str(partial))
    except Exception as exc:  # noqa: BLE001 - one line: what failed, from where
        shutil.rmtree(partial, ignore_errors=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise CoreError(f"could not fetch run '{record.run_id}' from {public_uri(uri)}: {first}") from None
    finally:
        backend.close()
    files = sum(1 for p in partial.rglob("*") if p.is_file())
    partial.rename(dest)
    return Fetched(record.run_id, dest, files)
