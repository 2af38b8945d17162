"""An adaptive search (`sweep.search`): Optuna's samplers choose each run's config, its pruners stop
bad runs early. Imported only for a sweep with `search:`; Optuna only through `trial.optuna_module`.

The driver is the only party that asks and tells: it asks the study for a trial when a worker is
free (`jobs`), each run reports its watched metric to its trial as it logs it (`core._sweep.trial`),
and the driver tells the study how the run ended (`tell`): FINISHED with the metric's final value,
PRUNED, or FAIL. The study lives in Optuna's JournalStorage, a file in the sweep's folder
(`study.journal`), so `--resume` continues the same study: its finished and pruned trials stay;
a trial an interrupted sweep left running is told how its run ended when the run did end (on disk
or in tracking: the driver died before telling it), else closed (FAIL, `mlcore_interrupted`) and
not counted.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core._records import RecordStatus
from core._sweep.plan import PlannedRun, SearchSettings, SweepPlan, grid_values, resolve
from core._sweep.trial import TrialRef, journal_storage, make_pruner, optuna_module
from core._sweep.worker import JobResult, SweepJob

STUDY_FILE = "study.journal"
#: trial user attributes: the core run, and whether the sweep was stopped under it (not counted)
RUN_ATTR = "mlcore_run_id"
INTERRUPTED_ATTR = "mlcore_interrupted"
#: trial user attribute: the number of the interrupted trial whose config this trial runs again
RETRY_ATTR = "mlcore_retry_of"
#: study user attribute: the metric the study optimises (its direction is Optuna's own)
METRIC_ATTR = "mlcore_metric"


def make_sampler(settings: SearchSettings) -> Any:
    """Optuna's sampler for `settings.sampler` (never one of our own)."""
    samplers = optuna_module().samplers
    seed, startup = settings.seed, settings.startup_trials
    if settings.sampler == "tpe":
        return samplers.TPESampler(seed=seed, **({"n_startup_trials": startup} if startup is not None else {}))
    if settings.sampler == "cmaes":
        optuna_module()
        from core._deps import require

        require("cmaes", extra="optuna", caller="the cmaes sampler")
        return samplers.CmaEsSampler(seed=seed, n_startup_trials=startup if startup is not None else 1,
                                     warn_independent_sampling=False)
    if settings.sampler == "qmc":
        with warnings.catch_warnings():  # "experimental" since Optuna 3.0: said once in the README, not per sweep
            warnings.simplefilter("ignore")
            return samplers.QMCSampler(seed=seed, scramble=seed is not None, warn_independent_sampling=False)
    if settings.sampler == "grid":
        return _ask_tell_grid_sampler()({k: [_encode(v) for v in grid_values(d)] for k, d in settings.params.items()},
                                        seed=seed)
    return samplers.RandomSampler(seed=seed)


def _ask_tell_grid_sampler() -> type:
    """Optuna's GridSampler, without the `study.stop()` its `after_trial` calls once the grid is
    done: outside `study.optimize` that raises (every grid search's last `tell` failed with it). The
    driver stops asking by `is_exhausted` instead (`_grid_done`)."""
    class AskTellGridSampler(optuna_module().samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskTellGridSampler


def distributions(settings: SearchSettings) -> dict[str, Any]:
    """The sweep file's distributions as Optuna's (`ask` samples exactly these)."""
    dist = optuna_module().distributions
    out: dict[str, Any] = {}
    for key, spec in settings.params.items():
        step = spec.get("step")
        if "choice" in spec:
            out[key] = dist.CategoricalDistribution([_encode(c) for c in spec["choice"]])
        elif "int" in spec:
            low, high = spec["int"]
            out[key] = dist.IntDistribution(low, high, step=step or 1)
        elif "uniform" in spec:
            low, high = spec["uniform"]
            out[key] = dist.FloatDistribution(float(low), float(high), step=step)
        else:
            low, high = spec["log_uniform"]
            out[key] = dist.FloatDistribution(float(low), float(high), log=True)
    return out


def _encode(choice: Any) -> Any:
    """Optuna's choices are scalars: a list or mapping (`hidden: [128, 64]`) goes as its JSON text."""
    return choice if choice is None or isinstance(choice, (bool, int, float, str)) else json.dumps(choice)


def decode(settings: SearchSettings, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's params as the sweep file's values (a JSON-encoded choice back to its list or mapping)."""
    out = {}
    for key, value in params.items():
        choices = settings.params.get(key, {}).get("choice")
        out[key] = next((c for c in choices if _encode(c) == value), value) if choices else value
    return out


def probe_overrides(settings: SearchSettings) -> list[dict[str, Any]]:
    """Two configs at the ends of every range (the first and last choice): checked before any trial
    runs, so a value the plugin refuses stops the sweep at once rather than failing trial after trial."""
    ends: list[dict[str, Any]] = [{}, {}]
    for key, spec in settings.params.items():
        if "choice" in spec:
            values = spec["choice"]
        else:
            kind = next(k for k in spec if k != "step")
            values = spec[kind]
        ends[0][key], ends[1][key] = values[0], values[-1]
    return ends


def _check_objective(study: Any, settings: SearchSettings, path: Path) -> None:
    """A resumed study keeps the metric and direction it was made with (Optuna loads the stored
    direction whatever is asked): values of another metric, or ranked the other way, would be
    compared with its trials' by the sampler and the pruner. A new study is marked with its metric."""
    from core._errors import BadInput

    metric = study.user_attrs.get(METRIC_ATTR)
    if metric is None and not study.trials:
        study.set_user_attr(METRIC_ATTR, settings.metric)
        return
    mode = "max" if study.direction == optuna_module().study.StudyDirection.MAXIMIZE else "min"
    if (metric is not None and metric != settings.metric) or mode != settings.mode:
        raise BadInput(f"--resume: this search's study ({path}) optimises {metric or 'its metric'} ({mode}); the "
                       f"sweep now asks {settings.metric} ({settings.mode}): a study keeps its objective, so resume "
                       f"with --metric {metric or '<its metric>'} --mode {mode}, or start a new sweep (without "
                       "--resume) for another")


@dataclass
class Search:
    """One sweep's study, on the driver."""

    plan: SweepPlan
    settings: SearchSettings
    study: Any
    storage_path: Path
    #: trials that count against `trials` (finished, pruned or failed; not those a stop interrupted)
    counted: int = 0
    #: trials asked and not yet told
    in_flight: int = 0
    #: where each run's reports go: None for the journal file, else the executor's actor
    channel: Any = None
    started: float = field(default_factory=time.monotonic)
    #: the run that FINISHED without the metric while no trial has had a value: the search asks no more
    #: trials (each would fail the same way, unseen by the sampler)
    blind_run: str | None = None
    _distributions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, plan: SweepPlan, folder: Path, study_name: str,
             ended: Mapping[str, tuple[RecordStatus, float | None]] | None = None) -> Search:
        """The sweep's study in `folder/study.journal`: made, or (resuming) loaded as it was left.
        `ended`: by core run id, how runs of this sweep ended (on disk or in tracking) whose trials an
        interrupted driver never told; those trials are told that now."""
        settings = plan.search
        assert settings is not None
        optuna = optuna_module()
        path = folder / STUDY_FILE
        study = optuna.create_study(study_name=study_name, storage=journal_storage(str(path)),
                                    sampler=make_sampler(settings),
                                    pruner=make_pruner(settings.pruner, settings.pruner_options),
                                    direction="maximize" if settings.mode == "max" else "minimize",
                                    load_if_exists=True)
        _check_objective(study, settings, path)
        search = cls(plan, settings, study, path, _distributions=distributions(settings))
        search._close_interrupted(ended or {})
        search._retry_interrupted()
        if study.trials and settings.seed is not None:
            # A seeded sampler made anew would draw the first trials' configs again: go on from where
            # the study is (still reproducible: the same study resumed the same way draws the same).
            study.sampler = make_sampler(replace(settings, seed=settings.seed + len(study.trials)))
        return search

    def _retry_interrupted(self) -> None:
        """Each config a stop interrupted runs again first (a waiting trial: the next `ask` takes it), as a
        grid sweep's resume reruns what did not finish; once: a retry's own trial names the one it retries.
        A config the sweep file's ranges no longer hold is not run again (nor one never drawn)."""
        from optuna.trial import create_trial

        TrialState = optuna_module().trial.TrialState
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get(RETRY_ATTR) for t in trials}
        for trial in trials:
            if trial.state is not TrialState.FAIL or not trial.user_attrs.get(INTERRUPTED_ATTR) \
                    or trial.number in retried or not self._fits(trial.params):
                continue
            # The grid sampler's own attributes go with it: the retry stands for the same grid point.
            system = {"fixed_params": dict(trial.params)} | {k: trial.system_attrs[k] for k in ("grid_id", "search_space")
                                                            if k in trial.system_attrs}
            self.study.add_trial(create_trial(state=TrialState.WAITING, system_attrs=system,
                                              user_attrs={RETRY_ATTR: trial.number}))

    def _fits(self, params: Mapping[str, Any]) -> bool:
        """Whether `params` are a config of this sweep file: every param, each within its distribution."""
        if not params or set(params) != set(self._distributions):
            return False
        for key, value in params.items():
            dist = self._distributions[key]
            try:
                if not dist._contains(dist.to_internal_repr(value)):
                    return False
            except (ValueError, TypeError):  # a choice the file no longer lists
                return False
        return True

    def _close_interrupted(self, ended: Mapping[str, tuple[RecordStatus, float | None]]) -> None:
        """Trials an earlier, interrupted driver left RUNNING: told how their run ended if it did (the
        driver died between the run's end and telling it: a FINISHED run's value counts, as a PRUNED
        run does), else closed FAIL and not counted."""
        TrialState = optuna_module().trial.TrialState
        for trial in self.study.get_trials(deepcopy=False):
            if trial.state is not TrialState.RUNNING:
                continue
            status, value = ended.get(str(trial.user_attrs.get(RUN_ATTR) or ""), (None, None))
            self._conclude(trial.number, trial._trial_id, status, value, interrupted=True)
        self.counted = sum(1 for t in self.study.get_trials(deepcopy=False)
                           if t.state.is_finished() and not t.user_attrs.get(INTERRUPTED_ATTR))

    def earlier_runs(self) -> list[PlannedRun]:
        """The runs of the study's finished and pruned trials (a resumed sweep's table keeps them)."""
        TrialState = optuna_module().trial.TrialState
        return [resolve(self.plan, t.number, decode(self.settings, t.params)) for t in self.study.get_trials(deepcopy=False)
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]

    @property
    def left(self) -> int:
        return max(0, self.settings.budget - self.counted)

    def jobs(self, make_job: Callable[[PlannedRun], SweepJob],
             on_planned: Callable[[PlannedRun], None]) -> Iterator[SweepJob]:
        """A trial asked of the study each time a worker is free, until the budget or the timeout is spent."""
        while self.counted + self.in_flight < self.settings.budget:
            if self.blind_run is not None:
                return
            if self.settings.timeout is not None and time.monotonic() - self.started >= self.settings.timeout:
                return
            if self.settings.sampler == "grid" and _grid_done(self.study):
                return
            trial = self.study.ask(self._distributions)
            self.in_flight += 1
            planned = resolve(self.plan, trial.number, decode(self.settings, trial.params))
            on_planned(planned)
            job = make_job(planned)
            ref = TrialRef(self.study.study_name, trial._trial_id, trial.number, self.settings.metric,
                           self.settings.pruner, dict(self.settings.pruner_options),
                           storage=None if self.channel is not None else str(self.storage_path), actor=self.channel)
            trial.set_user_attr(RUN_ATTR, job.run_id or "")
            yield _with_trial(job, ref)

    def tell(self, job: SweepJob, result: JobResult, *, interrupted: bool = False) -> None:
        """How the run of `job`'s trial ended, told to the study (a trial is told once)."""
        if job.trial is None:
            return
        self.in_flight = max(0, self.in_flight - 1)
        interrupted = interrupted or result.status in (RecordStatus.KILLED, RecordStatus.NOT_RUN)
        value = result.metrics.get(self.settings.metric)
        if result.status is RecordStatus.FINISHED and value is None and result.metrics and not self._ever_valued():
            self.blind_run = result.run_id or "?"
        elif value is not None and self.blind_run is not None:
            self.blind_run = None  # a run asked before the stop logged it: the metric is right after all
        self._conclude(job.trial.number, job.trial.trial_id, result.status, value, interrupted=interrupted)
        if not interrupted:
            self.counted += 1

    def _ever_valued(self) -> bool:
        """Whether any trial has reported or finished with the metric (a plugin that logs it only at
        times is not stopped for one run that did not)."""
        TrialState = optuna_module().trial.TrialState
        return any(t.state is TrialState.COMPLETE or t.intermediate_values for t in self.study.get_trials(deepcopy=False))

    def _conclude(self, number: int, trial_id: int, status: RecordStatus | None, value: Any, *,
                  interrupted: bool) -> None:
        """Tell trial `number` how its run ended: COMPLETE with a FINISHED run's value, PRUNED, else
        FAIL, marked interrupted (not counted) when the run was stopped rather than failing itself."""
        TrialState = optuna_module().trial.TrialState
        if status is RecordStatus.FINISHED and isinstance(value, (int, float)):
            self.study.tell(number, float(value), skip_if_finished=True)
        elif status is RecordStatus.PRUNED:
            self.study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        else:
            if interrupted:
                self.study._storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)

    def best(self) -> tuple[dict[str, Any], float] | None:
        """The best finished trial's params and value, if any finished."""
        TrialState = optuna_module().trial.TrialState
        if not self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            return None
        best = self.study.best_trial
        return decode(self.settings, best.params), float(best.value)


    def write_report(self, folder: Path) -> tuple[list[Path], str | None]:
        """`folder/best.json` (the best trial's params and value, trials by state) and Optuna's plots as
        PNG (optimization history, parameter importances; matplotlib on Agg), for the parent run. Plots
        need matplotlib (and importances two finished trials): the reason when one is left out."""
        from core._files import atomic_write_json

        folder.mkdir(parents=True, exist_ok=True)
        best = self.best()
        states: dict[str, int] = {}
        for trial in self.study.get_trials(deepcopy=False):
            states[trial.state.name] = states.get(trial.state.name, 0) + 1
        atomic_write_json(folder / "best.json", {
            "metric": self.settings.metric, "mode": self.settings.mode, "sampler": self.settings.sampler,
            "pruner": self.settings.pruner, "best_params": best[0] if best else None,
            "best_value": best[1] if best else None, "trials": states})
        files, skipped = [folder / "best.json"], None
        if best is None:  # Optuna would draw empty axes and log "There are no complete trials" raw
            return files, "no trial finished with a value: no plots"
        try:
            import matplotlib

            matplotlib.use("Agg")  # headless: no display on servers and CI
            import matplotlib.pyplot as plt
        except ImportError:
            from core._install import install_hint

            return files, f"matplotlib is not installed ({install_hint('plot')}): no plots"
        from optuna.visualization import matplotlib as plots

        for name, draw in (("optimization_history", plots.plot_optimization_history),
                           ("param_importances", plots.plot_param_importances)):
            try:
                with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
                    warnings.simplefilter("ignore")
                    ax = draw(self.study)
                figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
                path = folder / f"{name}.png"
                figure.savefig(path, dpi=100, bbox_inches="tight")
                plt.close(figure)
                files.append(path)
            except Exception as exc:  # noqa: BLE001 - too few finished trials for importances, say
                skipped = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        return files, skipped


def _grid_done(study: Any) -> bool:
    """Every grid point visited, and no retry of one waiting (a retry keeps its point's grid id)."""
    waiting = optuna_module().trial.TrialState.WAITING
    if any(t.state is waiting for t in study.get_trials(deepcopy=False)):
        return False
    return bool(getattr(study.sampler, "is_exhausted", lambda s: False)(study))


def _with_trial(job: SweepJob, ref: TrialRef) -> SweepJob:
    return replace(job, trial=ref)
