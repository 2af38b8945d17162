"""What MLflow knows of a resumed sweep's runs that its driver never heard back from (the driver
was killed: SIGKILL, its machine lost), found by the runs' tags (`mlcore.sweep_id`,
`mlcore.sweep_index`, `mlcore.run_id`).

- A run FINISHED in MLflow finished: it is not run again, whether or not its result reached the
  driver. Its summary, which the node sent with its folder, is brought into the sweep's folder
  when the server has it, so `core runs list/show` on the driver see it.
- A run still RUNNING in MLflow lost its driver, and with it its Ray task (Ray ends the tasks of a
  driver that is gone) or its pool worker: no one else will end it. It is ended KILLED, tagged
  `mlcore.failure=driver_lost` with the reason, what it already sent kept, and its config runs again.

Only `--resume` asks, and only a tracking server or store that can be searched.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core._records import RecordStatus
from core._sweep.lost import FAILURE_REASON_TAG, FAILURE_TAG
from core._sweep.store import INDEX_TAG, SWEEP_TAG, SweepStore
from core._sweep.table import ResultRow
from core._tracking import TrackingTarget, open_backend
from core._tracking.backend import RUN_ID_TAG

DRIVER_LOST = "driver_lost"
SUMMARY_ARTIFACT = "summary/run_summary.json"


@dataclass
class Recovered:
    #: by key, runs FINISHED in MLflow that the sweep's files did not know of
    finished: dict[str, ResultRow] = field(default_factory=dict)
    #: by key, the core run ids of runs left RUNNING by the dead driver, now ended KILLED
    ended: dict[str, list[str]] = field(default_factory=dict)


def recover(target: TrackingTarget, store: SweepStore, key_of: Mapping[int, str], known: set[str]) -> Recovered:
    """Ask tracking about `store`'s sweep: its FINISHED runs whose keys are not in `known`, and its
    runs still RUNNING (ended here). Tracking trouble: nothing found (the sweep reruns what its files
    do not show FINISHED, as before)."""
    found = Recovered()
    with _tracking_client(target) as client:
        for run in _sweep_runs(client, store.sweep_id) if client is not None else ():
            tags = run.data.tags
            index = str(tags.get(INDEX_TAG, ""))
            core_id = tags.get(RUN_ID_TAG)
            if not index.isdigit() or not core_id or int(index) not in key_of:
                continue
            key = key_of[int(index)]
            if run.info.status == "RUNNING":
                _end_killed(client, run.info.run_id, store.sweep_id)
                found.ended.setdefault(key, []).append(core_id)
            elif run.info.status == "FINISHED" and key not in known and key not in found.finished:
                _keep_summary(client, store, run.info.run_id, core_id)
                found.finished[key] = ResultRow(int(index), key, {}, core_id, RecordStatus.FINISHED,
                                                {k: float(v) for k, v in run.data.metrics.items()})
    return found


@dataclass
class SearchRecovered:
    #: by core run id, the final metrics of the search's runs FINISHED in tracking
    finished: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the core run ids of runs left RUNNING by the dead driver, now ended KILLED
    ended: list[str] = field(default_factory=list)


def recover_search(target: TrackingTarget, store: SweepStore, on_disk: Set[str] = frozenset()) -> SearchRecovered:
    """`recover` for an adaptive search, whose runs are its study's trials, not planned keys: every run
    of the sweep still RUNNING in tracking is ended KILLED (its trial is closed, not counted), and the
    FINISHED ones are found by core run id, so a trial whose run finished before the driver died is
    told its value. `on_disk`: core run ids whose folders are here (their summaries need no fetching).
    Tracking trouble: nothing found."""
    found = SearchRecovered()
    with _tracking_client(target) as client:
        for run in _sweep_runs(client, store.sweep_id) if client is not None else ():
            core_id = run.data.tags.get(RUN_ID_TAG)
            if not core_id or not str(run.data.tags.get(INDEX_TAG, "")).isdigit():  # the parent run has neither
                continue
            if run.info.status == "RUNNING":
                _end_killed(client, run.info.run_id, store.sweep_id)
                found.ended.append(core_id)
            elif run.info.status == "FINISHED":
                if core_id not in on_disk:
                    _keep_summary(client, store, run.info.run_id, core_id)
                found.finished[core_id] = {k: float(v) for k, v in run.data.metrics.items()}
    return found


@contextlib.contextmanager
def _tracking_client(target: TrackingTarget) -> Iterator[Any]:
    """MLflow's client on `target`, or None where there is none to ask (in memory, offline, it cannot
    be opened). Tracking trouble inside the block ends it quietly, keeping what was found so far:
    it never stops a resume (the sweep's own files decide what runs again)."""
    if target.is_memory or target.offline:
        yield None
        return
    try:
        backend = open_backend(target)
    except Exception:  # noqa: BLE001 - no tracking to ask
        yield None
        return
    try:
        yield getattr(backend, "client", None)
    except Exception:  # noqa: BLE001 - see the docstring
        pass
    finally:
        backend.close()


def _sweep_runs(client: Any, sweep_id: str) -> list[Any]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    return client.search_runs(experiments, filter_string=f"tags.`{SWEEP_TAG}` = '{sweep_id}'", max_results=50000)


def _end_killed(client: Any, run_id: str, sweep_id: str) -> None:
    client.set_tag(run_id, FAILURE_TAG, DRIVER_LOST)
    client.set_tag(run_id, FAILURE_REASON_TAG, f"the driver of sweep {sweep_id} died while this run was running; "
                                               "ended by its --resume, which runs the config again")
    client.set_terminated(run_id, status="KILLED", end_time=int(time.time() * 1000))


def _keep_summary(client: Any, store: SweepStore, mlflow_run_id: str, core_id: str) -> None:
    """The run's summary from its artifacts into the sweep's folder, when the node sent it."""
    if store.held_record(core_id) is not None:
        return
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(client.download_artifacts(mlflow_run_id, SUMMARY_ARTIFACT, tmp))
            store.save_held_summary(core_id, json.loads(path.read_text(encoding="utf-8")))
    except Exception:  # noqa: BLE001 - not sent (the node died before): the row stands without it
        pass
