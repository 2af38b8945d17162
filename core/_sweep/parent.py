"""The sweep's parent MLflow run: made before any worker starts (with the store and the
experiment, so workers never race to create them), reused when a sweep resumes, and at the end
given the sweep's totals, its best value of the metric and its files, and ended FINISHED,
FAILED or KILLED. Every run of the sweep points at it (`mlflow.parentRunId`), so MLflow's UI
shows the sweep as a tree.

Its calls go through the sweep's tracking service when the driver reached it (`core._sweep.tracking`:
the driver then never imports MLflow for it), else to MLflow opened here.

Both steps raise on tracking trouble; the driver decides that it never stops a sweep.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core._sweep.lost import FAILURE_TAG
from core._sweep.store import SWEEP_TAG, SweepState
from core._sweep.table import SweepOutcome
from core._tracking import TrackingTarget, open_backend, prepare_experiment
from core._tracking.backend import Metric, TrackingBackend
from core.contracts import RunStatus


@dataclass(frozen=True)
class ParentRun:
    backend: TrackingBackend
    run_id: str

    @classmethod
    def open(cls, target: TrackingTarget, experiment: str, state: SweepState, plugin: str, *,
             backend: TrackingBackend | None = None) -> ParentRun:
        """The run `state` names (a resumed sweep), else a new one in `experiment`; through `backend`
        (the sweep's tracking service) when given, else MLflow opened here."""
        backend = backend if backend is not None else open_backend(target)
        prepare_experiment(backend, target, experiment)
        run_id = state.parent_run_id or backend.start_run(
            experiment=experiment, run_name=state.sweep_id, start_time_ms=int(time.time() * 1000),
            tags={SWEEP_TAG: state.sweep_id, "mlcore.sweep_parent": "true", "plugin": plugin})
        return cls(backend, run_id)

    def finish(self, outcome: SweepOutcome, files: Sequence[Path], *, best_params: dict[str, Any] | None = None,
               search_files: Sequence[Path] = (), end_ms: int | None = None) -> None:
        """Log the totals and `files` (under `sweep/`), a search's best params (`best.<key>`) and its
        files (under `search/`: best.json and the plots), end the run, and close the backend either way.
        `end_ms`: the time of the metrics and the end (default now); an ending tried again passes the
        first try's, so a metric point that try logged is the same point, which MLflow keeps once."""
        try:
            if best_params:
                self._log_best(best_params)
            for path in search_files:
                self.backend.log_artifact(self.run_id, path, "search")
            now = end_ms if end_ms is not None else int(time.time() * 1000)
            metrics = [Metric("sweep_runs", float(len(outcome.rows)), 0, now),
                       Metric("sweep_finished", float(outcome.finished), 0, now),
                       Metric("sweep_not_finished", float(len(outcome.failed)), 0, now),
                       Metric("sweep_pruned", float(outcome.pruned), 0, now)]
            best = outcome.best
            if best and outcome.metric:
                metrics.append(Metric(f"best_{outcome.metric}", float(best.metrics[outcome.metric]), 0, now))
            self.backend.log_batch(self.run_id, metrics=metrics)
            for path in files:
                self.backend.log_artifact(self.run_id, path, "sweep")
            self.backend.end_run(self.run_id, _ended(outcome), now)
        finally:
            self.backend.close()


    def _log_best(self, best: dict[str, Any]) -> None:
        """The best trial's params as params; a resumed search whose best changed cannot change a param
        (MLflow keeps them immutable): then as tags, which can."""
        values = {f"best.{k}": str(v)[:6000] for k, v in best.items()}
        try:
            self.backend.log_batch(self.run_id, params=values)
        except Exception:  # noqa: BLE001 - the param was logged with another value before
            self.backend.log_batch(self.run_id, tags=values)

    def fail(self, reason: str) -> None:
        """End the run FAILED with `reason` (tag `mlcore.failure`): the sweep stopped before or between
        its runs, with no table to give it."""
        try:
            self.backend.log_batch(self.run_id, tags={FAILURE_TAG: reason[:5000]})
            self.backend.end_run(self.run_id, RunStatus.FAILED, int(time.time() * 1000))
        finally:
            self.backend.close()


def _ended(outcome: SweepOutcome) -> RunStatus:
    if outcome.interrupt:
        return RunStatus.KILLED
    return RunStatus.FAILED if outcome.failed else RunStatus.FINISHED
