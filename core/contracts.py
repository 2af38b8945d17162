"""The contract between core and plugins, in one place.

Everything a plugin author writes against lives here: `Plugin`, `PluginInfo`,
`ConfigField`, `RunSpec`, `RunContext`, `RunResult`, `RunStatus`, and `TrackingClient`, the
facade every tracking backend implements. Standard library only, so importing
it is free.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core._tracking.handle import TrackingHandle


class RunStatus(enum.Enum):
    """How a run ended. `mlflow_name` is the one mapping onto MLflow's states."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def mlflow_name(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
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

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready form: what `run_summary.json` records as the resolved spec."""
        return {
            "plugin": self.plugin,
            "data_spec": _plain(self.data_spec),
            "seed": self.seed,
            "name": self.name,
            "experiment": self.experiment,
            "tags": dict(self.tags),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class RunContext:
    """What core hands a plugin for one run. The plugin never builds one."""

    run_id: str
    spec: RunSpec
    tracking: TrackingHandle
    artifact_dir: Path
    logger: logging.Logger


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

    @abstractmethod
    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        """Train/evaluate/score inside a run that core has already started."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric point as a backend receives it. `timestamp_ms` is when it was logged."""

    key: str
    value: float
    step: int
    timestamp_ms: int


class TrackingClient(ABC):
    """What every tracking backend implements (MLflow, the recording fake).

    Backends are low level and stateless about "the current run": every call
    names its run explicitly. Buffering, the on-disk journal and the
    plugin-facing API live above them, in `core._tracking`.
    """

    #: short backend name recorded in run summaries ("mlflow", "memory")
    name: str = "abstract"

    @property
    @abstractmethod
    def uri(self) -> str:
        """Where this backend stores runs, without credentials."""

    @abstractmethod
    def start_run(
        self,
        *,
        experiment: str,
        run_name: str,
        tags: Mapping[str, str],
        start_time_ms: int,
    ) -> str:
        """Create a run and return the backend's id for it."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        """Record metrics, params and tags in one call, in the order given."""

    @abstractmethod
    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        """Copy one file into the run's artifacts, under `artifact_path`."""

    @abstractmethod
    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        """Mark the run terminated with `status`."""

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
        """Copy a folder's files, keeping their relative layout. Default: one file at a time."""
        local_dir = Path(local_dir)
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            rel_parent = path.parent.relative_to(local_dir).as_posix()
            parts = [p for p in (artifact_path, rel_parent if rel_parent != "." else None) if p]
            self.log_artifact(run_id, path, "/".join(parts) or None)

    def download_artifact(self, core_run_id: str, artifact_path: str, dst_dir: Path) -> Path:
        """Copy an artifact of the run tagged `mlcore.run_id=core_run_id` into `dst_dir`.

        Lets a score pipeline find a model whose run folder is gone. Default: unsupported.
        """
        from core._errors import TrackingError

        raise TrackingError(f"the {self.name} backend cannot fetch artifacts of earlier runs")

    def close(self) -> None:
        """Release connections. Default: nothing to release."""
