"""A search trial as it travels with its run (`TrialRef`, picklable) and the reporter the run's
tracker talks to wherever it executes (`core._tracking.pruning.TrialReporter`).

Two ways to reach the study, chosen by the driver (`core._sweep.search`):
- `journal`: the study's Optuna JournalStorage file in the sweep's folder, opened by the run's own
  process (sequential and process executors: one machine, one file, Optuna's file lock);
- `actor`: a Ray actor on the driver's node that owns the same file (Ray: nodes need not share the
  driver's disk; each report is one actor call).
Optuna is imported only here and in `search`, and only when a sweep has `search:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core._deps import require

#: caller named in the missing-extra message
CALLER = "a sweep with 'search:'"


def optuna_module() -> Any:
    optuna = require("optuna", extra="optuna", caller=CALLER)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would bury the sweep's own
    return optuna


@dataclass(frozen=True)
class TrialRef:
    """Which trial a run is, and how its reports reach the study."""

    study_name: str
    trial_id: int
    number: int
    metric: str
    #: `core._sweep.plan.PRUNERS` name and options: each reporter builds the same pruner
    pruner: str
    pruner_options: dict[str, Any] = field(default_factory=dict)
    #: the JournalStorage file (journal), None when an actor answers
    storage: str | None = None
    #: the Ray actor handle (`core._sweep.ray_search.StudyActor`), None for the journal
    actor: Any = None

    def reporter(self) -> Any:
        """The `TrialReporter` for this trial, in the process that runs it."""
        return ActorReporter(self) if self.actor is not None else JournalReporter(self)


def make_pruner(name: str, options: dict[str, Any]) -> Any:
    """Optuna's pruner for a sweep file's `pruner` (never one of our own)."""
    pruners = optuna_module().pruners
    if name in ("median", "percentile"):  # the median pruner is Optuna's PercentilePruner at 50
        common = {"n_startup_trials": options.get("startup_trials", 5), "n_warmup_steps": options.get("warmup_steps", 0),
                  "interval_steps": options.get("interval_steps", 1), "n_min_trials": options.get("min_trials", 1)}
        if name == "median":
            return pruners.MedianPruner(**common)
        return pruners.PercentilePruner(options["percentile"], **common)
    if name == "hyperband":
        return pruners.HyperbandPruner(min_resource=options.get("min_resource", 1),
                                       max_resource=options.get("max_resource", "auto"),
                                       reduction_factor=options.get("reduction_factor", 3))
    if name == "successive_halving":
        return pruners.SuccessiveHalvingPruner(min_resource=options.get("min_resource", "auto"),
                                               reduction_factor=options.get("reduction_factor", 4),
                                               min_early_stopping_rate=options.get("min_early_stopping_rate", 0))
    return pruners.NopPruner()


def journal_storage(path: str) -> Any:
    optuna = optuna_module()
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    # The open lock (O_EXCL) rather than symlinks: it works on every file system a sweep folder may be on.
    return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


#: studies opened by this process, by (file, study): a pool worker reuses its own across runs
_STUDIES: dict[tuple[str, str], Any] = {}


def load_study(path: str, study_name: str, pruner: str, options: dict[str, Any]) -> Any:
    key = (path, study_name)
    if key not in _STUDIES:
        optuna = optuna_module()
        # A random sampler: a trial made here only reports (the driver's sampler asks), and TPE's
        # would model the search space at each report for nothing.
        _STUDIES[key] = optuna.load_study(study_name=study_name, storage=journal_storage(path),
                                          sampler=optuna.samplers.RandomSampler(), pruner=make_pruner(pruner, options))
    return _STUDIES[key]


def report_to(study: Any, trial_id: int, value: float, step: int) -> bool:
    """Record `value` at `step` for the trial and ask its study's pruner; True: prune."""
    optuna = optuna_module()
    trial = optuna.Trial(study, trial_id)
    trial.report(value, step)
    return bool(trial.should_prune())


class JournalReporter:
    """Reports straight into the study's journal file (the run's process shares the driver's disk)."""

    def __init__(self, ref: TrialRef) -> None:
        self.ref = ref
        self.metric = ref.metric

    def report(self, value: float, step: int) -> bool:
        study = load_study(self.ref.storage or "", self.ref.study_name, self.ref.pruner, self.ref.pruner_options)
        return report_to(study, self.ref.trial_id, value, step)


class ActorReporter:
    """Reports through the study's actor on the driver's node (Ray)."""

    def __init__(self, ref: TrialRef) -> None:
        self.ref = ref
        self.metric = ref.metric

    def report(self, value: float, step: int) -> bool:
        import ray

        return bool(ray.get(self.ref.actor.report.remote(self.ref.trial_id, value, step), timeout=60))
