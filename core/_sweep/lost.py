"""A sweep run lost with its Ray worker or node: its MLflow run is still RUNNING (the process that
would have ended it is gone), so the driver ends it FAILED, tagged `mlcore.failure=node_lost` with the
reason in `mlcore.failure_reason`. What the run had already sent (params, metrics) stays as it is."""

from __future__ import annotations

import time

from core._tracking.backend import RUN_ID_TAG, TrackingBackend

#: why a run or a sweep's parent run failed, when core (not the plugin) decided it
FAILURE_TAG = "mlcore.failure"
FAILURE_REASON_TAG = "mlcore.failure_reason"
NODE_LOST = "node_lost"


def mark_lost(backend: TrackingBackend | None, core_run_id: str, reason: str) -> bool:
    """End the MLflow run tagged `mlcore.run_id=core_run_id` FAILED as node_lost, if it is still
    RUNNING. False when there is no MLflow run (its start never reached the server), no backend that
    can search (memory), or tracking could not be reached (the run then stays as it is, and `core
    runs repair` cannot help: its journal is on the lost node)."""
    client = getattr(backend, "client", None)
    if client is None:
        return False
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, filter_string=f"tags.`{RUN_ID_TAG}` = '{core_run_id}'",
                                  max_results=10) if experiments else []
        marked = False
        for run in runs:
            if run.info.status != "RUNNING":
                continue
            client.set_tag(run.info.run_id, FAILURE_TAG, NODE_LOST)
            client.set_tag(run.info.run_id, FAILURE_REASON_TAG, reason[:5000])
            client.set_terminated(run.info.run_id, status="FAILED", end_time=int(time.time() * 1000))
            marked = True
        return marked
    except Exception:  # noqa: BLE001 - tracking trouble: the table still says the run was lost
        return False
