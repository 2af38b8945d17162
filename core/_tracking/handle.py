"""The tracking handle a plugin receives as `context.tracking`: core's `Tracker`.

It can log; it cannot start or end runs, because core owns the run lifecycle
(PLUGIN_CONVENTIONS.md, "Core boundary").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core._errors import InvalidTrackingValue, LifecycleError
from core._safefiles import inside, refused, regular_file
from core._tracking.naming import NamingPolicy
from core._tracking.pruning import PruneWatch
from core._tracking.recorder import RunRecorder
from core.contracts import Tracker

#: tags core sets at the start of every run that say which run it is; plugins may not change them
CORE_TAGS = ("plugin", "mlflow.runName", "mlflow.parentRunId")


class TrackingHandle(Tracker):
    """Log params, metrics, tags and artifacts to the current run.

    Names are checked at the call: ones MLflow would reject always raise; ones that break
    the naming conventions warn once in the run log, or raise in strict mode (`naming`).
    """

    __slots__ = ("_naming", "_recorder", "prune")

    def __init__(self, recorder: RunRecorder, naming: NamingPolicy | None = None,
                 prune: PruneWatch | None = None) -> None:
        self._recorder = recorder
        self._naming = naming or NamingPolicy(logger=getattr(recorder, "logger", None))
        #: a search's trial this run reports its watched metric to (None: not part of a search)
        self.prune = prune

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._naming.params(params)
        self._recorder.log_params(params)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one point; use `step` consistently (epoch, iteration). Buffered, so cheap. In a search,
        the watched metric's value is reported to the trial; `core.RunPruned` is raised (after the
        value is recorded) when the search's pruner stops the run."""
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._naming.metrics(metrics)
        self._recorder.log_metrics(metrics, step=step)
        if self.prune is not None:  # after the values are journaled: a pruned run keeps them
            self.prune.after_log(metrics, step)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tag the run; the tags that say which run this is (`CORE_TAGS`) are core's and refused."""
        for key in tags:
            if isinstance(key, str) and (key in CORE_TAGS or key.startswith("mlcore.")):
                raise InvalidTrackingValue(f"tag '{key}' is reserved: core sets it to say which run this is "
                                           f"({', '.join(CORE_TAGS)}, mlcore.*)")
        self._naming.tags(tags)
        self._recorder.set_tags(tags)

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Log one file under `artifact_path` (use data, models, metrics, plots, reports)."""
        self._recorder.log_artifact(self._inside_run(local_path), artifact_path)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Log every file in a folder, keeping its layout, under `artifact_path`."""
        self._recorder.log_artifact(self._inside_run(local_dir, folder=True), artifact_path, is_dir=True)

    def _inside_run(self, path: str | Path, *, folder: bool = False) -> Path:
        """Only regular files in the run's own folder are logged: a path, a link, or (for a folder) any
        file in it that leads out of the run folder is refused, so nothing a plugin is handed can make
        core copy files from elsewhere; so is a FIFO, a device or a socket (copying one blocks or never ends)."""
        run_dir = self._recorder.journal.dir.parent.resolve()
        if not inside(Path(path), run_dir):
            raise InvalidTrackingValue(f"cannot log '{path}': artifacts must be inside the run folder {run_dir} "
                                       "(write them under context.artifact_dir first)")
        if folder:
            bad = refused(Path(path), run_dir) if Path(path).is_dir() else []
            if bad:
                raise InvalidTrackingValue(f"cannot log '{path}': '{bad[0]}' leaves the run folder {run_dir} or is "
                                           "not a regular file (a FIFO, device or socket); only regular files "
                                           "inside the run folder are logged")
        elif os.path.lexists(path) and not Path(path).is_dir() and regular_file(Path(path), run_dir) is None:
            raise InvalidTrackingValue(f"cannot log '{path}': not a regular file (a FIFO, device or socket)")
        return Path(path)

    def flush(self) -> None:
        """Send what is buffered now (core also flushes on time and at the end)."""
        self._recorder.flush()

    @property
    def run_id(self) -> str | None:
        """The tracking backend's id for this run (MLflow run id), once created."""
        return self._recorder.backend_run_id

    def start_run(self, *args: Any, **kwargs: Any) -> None:
        raise LifecycleError("core owns the run lifecycle: plugins must not call start_run")

    def end_run(self, *args: Any, **kwargs: Any) -> None:
        raise LifecycleError("core owns the run lifecycle: plugins must not call end_run")
