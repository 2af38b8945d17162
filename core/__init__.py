"""mlcore's core: the plugin contract, the run lifecycle and tracking.

Importing this package is cheap: no MLflow, numpy or other heavy library is
loaded until a run needs it.
"""

from core._deps import require
from core._errors import (
    BadInput,
    CoreError,
    InvalidTrackingValue,
    LifecycleError,
    MissingExtra,
    PluginLoadError,
    PluginNotFound,
    SpecError,
    TrackingError,
)
from core.contracts import (
    ConfigField,
    Metric,
    Plugin,
    PluginInfo,
    RunContext,
    RunResult,
    RunSpec,
    RunStatus,
    TrackingClient,
)

__all__ = [
    "BadInput",
    "ConfigField",
    "CoreError",
    "InvalidTrackingValue",
    "LifecycleError",
    "Metric",
    "MissingExtra",
    "Plugin",
    "PluginInfo",
    "PluginLoadError",
    "PluginNotFound",
    "RunContext",
    "RunResult",
    "RunSpec",
    "RunStatus",
    "SpecError",
    "TrackingClient",
    "TrackingError",
    "require",
]
