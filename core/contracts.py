"""The contract between core and plugins, in one place.

Everything a plugin author writes against lives here: `Plugin`, `PluginInfo`,
`ConfigField`, `RunSpec`, `RunContext`, `RunResult`, `RunStatus`, `RunInput`, `ResolvedModel`,
and `Tracker`, what `context.tracking` is. Standard library only (it imports nothing from the rest of core,
not even for type checking), so importing it is free and it can never be part of a cycle.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable


class RunStatus(enum.Enum):
    """How a run ended. `mlflow_name` is the one mapping onto MLflow's states."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    #: stopped by a search's pruner (not a failure); MLflow has no such state: KILLED there, with the
    #: tags `mlcore.pruned=true` and `mlcore.pruned_step`
    PRUNED = "PRUNED"

    @property
    def mlflow_name(self) -> str:
        """MLflow's name for this state: the same word, but PRUNED, which MLflow records as KILLED."""
        return "KILLED" if self is RunStatus.PRUNED else self.value

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended (every state but RUNNING)."""
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What a plugin says about itself; `key` is its stable public name.

    `extra` names the mlcore pip extra its heavy dependencies come from, and
    `requires` the top-level modules that extra must provide: core checks them
    with `importlib.util.find_spec` (no import) before a run starts and when
    listing plugins. `seeds` names the RNG libraries core seeds from
    `RunSpec.seed` before `run()` ("random", "numpy", "torch").
    """

    key: str
    description: str = ""
    version: str | None = None
    extra: str | None = None
    requires: tuple[str, ...] = ()
    seeds: tuple[str, ...] = ("random",)


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One field of a plugin's `data_spec`, for `core plugins show` and the docs.

    `name` is dotted below `data_spec` (`model.max_depth`); `allowed` is a tuple of
    choices or a short text (`"(0, 1]"`); `when` says when the field applies
    (`"data.source: csv"`). The plugin's own validation stays the authority.
    """

    name: str
    type: str
    default: Any = None
    allowed: tuple[Any, ...] | str | None = None
    help: str = ""
    when: str | None = None


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A request for one run: which plugin, with what configuration."""

    plugin: str
    data_spec: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    name: str | None = None
    experiment: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: register the run's MLflow Model (artifact path `model`) when it FINISHES: `{"name": ...,
    #: "alias": ... or None, "tags": {...}}` (core's business; plugins ignore it)
    register: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready form: what `run_summary.json` records as the resolved spec
        (`register` only when set, so specs without it read as they always did)."""
        out = {
            "plugin": self.plugin,
            "data_spec": _plain(self.data_spec),
            "seed": self.seed,
            "name": self.name,
            "experiment": self.experiment,
            "tags": dict(self.tags),
        }
        if self.register is not None:
            out["register"] = _plain(self.register)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@runtime_checkable
class Tracker(Protocol):
    """What a plugin logs through: `context.tracking`.

    Calls go to the run core started (MLflow, or the recording fake in tests). Metrics are
    buffered, so logging every step is cheap. Names are checked at the call: one MLflow would
    reject raises `core.InvalidTrackingValue`; one that breaks the naming conventions
    (`model.*`, `val_accuracy`, ...) warns once in the run log, or raises in strict mode.
    A tracker cannot start or end runs: core owns the run lifecycle.
    """

    def log_param(self, key: str, value: Any) -> None:
        """Log one parameter (`model.max_depth`)."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log several parameters at once."""

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one metric point; use `step` consistently (epoch, iteration)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at the same step."""

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag (coarse labels: `purpose`, `stage`)."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags at once."""

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Log one file from the run folder under `artifact_path` (data, models, metrics, plots, reports)."""

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Log every file of a folder inside the run folder, keeping its layout."""

    def flush(self) -> None:
        """Send what is buffered now (core also flushes on time and at the end)."""

    @property
    def run_id(self) -> str | None:
        """The tracking backend's id for this run (the MLflow run id), once it exists."""


@dataclass(frozen=True, slots=True)
class RunInput:
    """Something a run needs from earlier work, declared by `Plugin.inputs` so core can check it
    exists before a run folder is made (a typo is bad input, exit 2, not a FAILED run).

    Either an earlier core run's file (`run_id` and `path` inside its folder, as `run_file`
    takes them) or an MLflow Model (`model_uri`: `runs:/<id>/model`, `models:/NAME@ALIAS`,
    `models:/NAME/3`, as `RunContext.model` takes it). `field` is the spec field it came from
    (`data_spec.score.run_id`), named in the error.
    """

    field: str
    run_id: str | None = None
    path: str | None = None
    model_uri: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """An MLflow Model fetched for a run (`RunContext.model`): its local folder and where it came
    from. `version`/`name` are set for a registry URI; `run_id` is the core run that logged it
    (its `mlcore.run_id` tag), `mlflow_run_id` the MLflow run, where known."""

    uri: str
    path: Path
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    mlflow_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunContext:
    """What core hands a plugin for one run. The plugin never builds one (`core.testing` does
    for tests).

    `locate_run_file` and `locate_model` are core's lookups behind `run_file` and `model`;
    plugins call those.
    """

    run_id: str
    spec: RunSpec
    tracking: Tracker
    artifact_dir: Path
    logger: logging.Logger
    locate_run_file: Callable[[str, str], Path] | None = field(default=None, repr=False, compare=False)
    locate_model: Callable[[str], ResolvedModel] | None = field(default=None, repr=False, compare=False)

    def run_file(self, run_id: str, relative_path: str) -> Path:
        """A file or folder of an earlier run, by core run id and path inside its run folder
        (`models/best.pt`): from that run's folder where it is on this machine, else fetched
        from tracking into this run's folder. Plugins never compute another run's folder.

        Raises `core.RunFileNotFound` (bad input, exit 2) naming where it looked.
        """
        if self.locate_run_file is None:
            raise LookupError(f"this context cannot reach earlier runs' files (asked for {relative_path} "
                              f"of run {run_id})")
        return self.locate_run_file(run_id, relative_path)

    def model(self, uri: str) -> ResolvedModel:
        """An MLflow Model by URI (`runs:/<mlflow run id>/model`, `models:/NAME@ALIAS`,
        `models:/NAME/VERSION`), resolved against this run's tracking and downloaded into this
        run's folder (`inputs/`). Plugins never talk to MLflow's registry themselves.

        Raises `core.ModelNotFound` (bad input, exit 2) naming the URI and what exists.
        """
        if self.locate_model is None:
            raise LookupError(f"this context cannot reach MLflow Models (asked for {uri})")
        return self.locate_model(uri)


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a plugin returns: small, JSON-serialisable `outputs`."""

    outputs: Mapping[str, Any] = field(default_factory=dict)


class Plugin(ABC):
    """A unit of ML work that core runs. Subclasses set `info` and implement `run`.

    `validate` is optional: core calls it before a run folder exists (and in
    `core validate`), so configuration mistakes are reported as bad input
    (exit 2) rather than as a failed run. Raise `core.SpecError` from it.
    """

    info: PluginInfo
    #: the `data_spec` fields it understands, shown by `core plugins show`
    config_fields: ClassVar[tuple[ConfigField, ...]] = ()

    def validate(self, spec: RunSpec) -> None:
        """Check `spec.data_spec` without doing any work. Default: accept anything."""

    def inputs(self, spec: RunSpec) -> tuple[RunInput, ...]:
        """What the run needs from earlier runs or the model registry (`RunInput`), for core to
        check before the run starts. Called after `validate`. Default: nothing."""
        return ()

    @abstractmethod
    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        """Train/evaluate/score inside a run that core has already started."""
