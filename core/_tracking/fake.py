"""A recording tracking backend for tests (`CORE_TRACKING_URI=memory`).

Public and explicit, like httpx's `MockTransport`: it implements exactly the
`TrackingBackend` contract (no catch-all), keeps everything in memory, and has
query helpers so tests read as specifications.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core._errors import TrackingError
from core._tracking.backend import RUN_ID_TAG, Metric, TrackingBackend
from core.contracts import RunStatus


@dataclass
class FakeRun:
    run_id: str
    experiment: str
    run_name: str
    start_time_ms: int
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    #: artifact path inside the run ("metrics/m.json") -> file content
    artifacts: dict[str, bytes] = field(default_factory=dict)
    status: RunStatus = RunStatus.RUNNING
    end_time_ms: int | None = None

    def metric_history(self, key: str) -> list[Metric]:
        return [m for m in self.metrics if m.key == key]

    def final_metrics(self) -> dict[str, float]:
        latest: dict[str, Metric] = {}
        for m in self.metrics:
            if m.key not in latest or m.step >= latest[m.key].step:
                latest[m.key] = m
        return {k: m.value for k, m in latest.items()}


class FakeTracking(TrackingBackend):
    """Records runs in memory. `calls` counts backend calls and `call_order` lists them,
    for batching tests."""

    name = "memory"

    def __init__(self) -> None:
        self.runs: dict[str, FakeRun] = {}
        self.calls: dict[str, int] = {}
        self.call_order: list[str] = []
        self._ids = itertools.count(1)

    @property
    def uri(self) -> str:
        return "memory"

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str], start_time_ms: int) -> str:
        self._count("start_run")
        core_run_id = tags.get(RUN_ID_TAG)
        for run in self.runs.values():
            if core_run_id and run.experiment == experiment and run.tags.get(RUN_ID_TAG) == core_run_id:
                return run.run_id  # as MLflow: the run already tagged with this core run is adopted
        run_id = f"fake-{next(self._ids)}"
        self.runs[run_id] = FakeRun(run_id, experiment, run_name, start_time_ms, tags=dict(tags))
        return run_id

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        self._count("log_batch")
        run = self._active(run_id)
        for key, value in params.items():
            # Same rule as MLflow: a param, once logged, may not change.
            if key in run.params and run.params[key] != value:
                raise TrackingError(f"param '{key}' already logged as {run.params[key]!r}, cannot change to {value!r}")
            run.params[key] = value
        run.metrics.extend(metrics)
        run.tags.update(tags)

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        self._count("log_artifact")
        run = self._active(run_id)
        local_path = Path(local_path)
        name = f"{artifact_path.strip('/')}/{local_path.name}" if artifact_path else local_path.name
        run.artifacts[name] = local_path.read_bytes()

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        self._count("end_run")
        run = self._get(run_id)
        run.status = status
        run.end_time_ms = end_time_ms

    def has_run(self, core_run_id: str) -> bool | None:
        return any(run.tags.get(RUN_ID_TAG) == core_run_id for run in self.runs.values())

    def download_artifact(self, core_run_id: str, artifact_path: str, dst_dir: Path) -> Path:
        """A file, or a folder (every artifact under `artifact_path/`), as MLflow does."""
        prefix = artifact_path.rstrip("/") + "/"
        for run in self.runs.values():
            if run.tags.get(RUN_ID_TAG) != core_run_id:
                continue
            matches = [k for k in run.artifacts if k == artifact_path or k.startswith(prefix)]
            for key in matches:
                dst = Path(dst_dir) / key
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(run.artifacts[key])
            if matches:
                return Path(dst_dir) / artifact_path
        raise TrackingError(f"no recorded run {core_run_id} with artifact {artifact_path}")

    # -- query helpers for tests -------------------------------------------------
    def only_run(self) -> FakeRun:
        """The single recorded run; fails loudly when there are none or several."""
        if len(self.runs) != 1:
            raise AssertionError(f"expected exactly one run, found {len(self.runs)}")
        return next(iter(self.runs.values()))

    def _get(self, run_id: str) -> FakeRun:
        try:
            return self.runs[run_id]
        except KeyError:
            raise TrackingError(f"no run '{run_id}'") from None

    def _active(self, run_id: str) -> FakeRun:
        run = self._get(run_id)
        if run.status.is_terminal:
            raise TrackingError(f"run '{run_id}' already ended as {run.status.value}")
        return run

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.call_order.append(name)
