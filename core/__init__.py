"""mlcore's core: the plugin contract, the run lifecycle and tracking.

This package is the public face: what plugin authors and users import is exported here
(and the test kit in `core.testing`); modules whose names start with an underscore are
internal and may change without notice.

Importing this package is cheap: no MLflow, numpy or other heavy library is loaded until a
run needs it.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from core._deps import package_versions, require
from core._errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_TERMINATED,
    BadInput,
    CoreError,
    InvalidTrackingValue,
    LifecycleError,
    MissingExtra,
    ModelNotFound,
    PluginLoadError,
    PluginNotFound,
    RunFileNotFound,
    RunInterrupted,
    RunPruned,
    SpecError,
    TrackingError,
)
from core._progress import ProgressBar
from core.contracts import (
    ConfigField,
    Plugin,
    PluginInfo,
    ResolvedModel,
    RunContext,
    RunInput,
    RunResult,
    RunSpec,
    RunStatus,
    Tracker,
)

if TYPE_CHECKING:
    from core._runner import RunOutcome, run
    from core._spec import load_spec
    from core._summary import RunSummary
    from core._sweep.driver import SweepOptions, run_sweep
    from core._sweep.plan import load_sweep
    from core._tracking.backend import Metric, TrackingBackend

# Exported, but imported on first use: they pull in the whole runner (tracking, records,
# report), and `import core` must stay cheap for `--help`, `core runs list` and plugin listing.
_LAZY = {
    "run": "core._runner",
    "RunOutcome": "core._runner",
    "load_spec": "core._spec",
    "RunSummary": "core._summary",
    "load_sweep": "core._sweep.plan",
    "run_sweep": "core._sweep.driver",
    "SweepOptions": "core._sweep.driver",
    # the tracking package opens stores (sqlite3, file locks): only backends and tests need these
    "TrackingBackend": "core._tracking.backend",
    "Metric": "core._tracking.backend",
}

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_TERMINATED",
    "BadInput",
    "ConfigField",
    "CoreError",
    "InvalidTrackingValue",
    "LifecycleError",
    "Metric",
    "MissingExtra",
    "ModelNotFound",
    "Plugin",
    "PluginInfo",
    "PluginLoadError",
    "PluginNotFound",
    "ProgressBar",
    "ResolvedModel",
    "RunContext",
    "RunFileNotFound",
    "RunInput",
    "RunInterrupted",
    "RunOutcome",
    "RunPruned",
    "RunResult",
    "RunSpec",
    "RunStatus",
    "RunSummary",
    "SpecError",
    "SweepOptions",
    "Tracker",
    "TrackingBackend",
    "TrackingError",
    "load_spec",
    "load_sweep",
    "package_versions",
    "require",
    "run",
    "run_sweep",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    # `TrackingClient` was the backend base class's name until 0.1; kept as a deprecated alias.
    if name == "TrackingClient":
        warnings.warn("core.TrackingClient is deprecated: use core.TrackingBackend (for backends) or "
                      "core.Tracker (what a plugin's context.tracking is)", DeprecationWarning, stacklevel=2)
        return __getattr__("TrackingBackend")
    raise AttributeError(f"module 'core' has no attribute '{name}'")
