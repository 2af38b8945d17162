"""Pruning through the tracker: a run that is a search's trial reports its watched metric, at each
`step`, to the trial; when the trial's pruner says stop, the call that logged it raises `RunPruned`.

Plugins need no code for this: `TrackingHandle.log_metrics` calls `PruneWatch.after_log` once the
values are journaled, so everything logged stays. The trial itself (Optuna, a journal file or a Ray
actor) lives in `core._sweep.search`; here is only what the tracker needs of it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Protocol

from core._errors import RunPruned

#: the tags a PRUNED run ends with in tracking (MLflow records it KILLED)
PRUNED_TAG = "mlcore.pruned"
PRUNED_STEP_TAG = "mlcore.pruned_step"


class TrialReporter(Protocol):
    """A search trial as the tracker sees it: the metric its pruner watches, and a report of one value."""

    metric: str

    def report(self, value: float, step: int) -> bool:
        """Record `value` at `step` for the trial; True when its pruner says the run should stop."""


class PruneWatch:
    """One run's side of its trial: reports each stepped value of the watched metric, raises once."""

    __slots__ = ("_logger", "pruned", "reporter")

    def __init__(self, reporter: TrialReporter, logger: logging.Logger | None = None) -> None:
        self.reporter = reporter
        self._logger = logger or logging.getLogger("mlcore.run")
        #: set once the pruner said stop (and the exception raised); later calls go through, so a
        #: plugin's `finally` can still log what it saves
        self.pruned: RunPruned | None = None

    def after_log(self, metrics: Mapping[str, Any], step: int | None) -> None:
        if self.pruned is not None or step is None or self.reporter.metric not in metrics:
            return
        value = float(metrics[self.reporter.metric])
        if not math.isfinite(value):
            return  # the pruners compare numbers: a NaN or infinity says nothing about the trial
        try:
            stop = self.reporter.report(value, int(step))
        except Exception as exc:  # noqa: BLE001 - a study that cannot be reached never fails the run
            self._logger.warning("could not report %s at step %s to the search (%s: %s): the run goes on",
                                 self.reporter.metric, step, type(exc).__name__, exc)
            return
        if stop:
            self.pruned = RunPruned(self.reporter.metric, int(step), value)  # the runner logs it
            raise self.pruned
