"""Check names and values at the call, the way MLflow would at the flush.

MLflow rejects some key characters and changed param values, and (with
MLFLOW_TRUNCATE_LONG_VALUES) silently truncates long ones. Batching would
turn those into failures far from the offending line, so the facade raises
`InvalidTrackingValue` where the plugin made the call instead.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from core._errors import InvalidTrackingValue

# MLflow's limits (mlflow.utils.validation), fixed here so core need not import MLflow.
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000

_KEY_RE = re.compile(r"^[/\w.\- :]+$")


def check_key(kind: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidTrackingValue(f"{kind} name must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidTrackingValue(f"{kind} name '{key[:40]}...' is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_RE.match(key):
        raise InvalidTrackingValue(
            f"{kind} name {key!r} has characters MLflow rejects "
            "(allowed: letters, digits, '_', '-', '.', ' ', ':', '/')"
        )
    norm = posixpath.normpath(key)
    if norm != key or norm.startswith(("..", "/")):
        raise InvalidTrackingValue(f"{kind} name {key!r} is not a clean relative path (no '//', '..', leading '/')")
    return key


def param_value(key: str, value: Any) -> str:
    return _bounded_text(
        "param", key, value, MAX_PARAM_VALUE_LENGTH,
        hint=": log large structured values as a JSON artifact (metrics/ or data/) instead",
    )


def tag_value(key: str, value: Any) -> str:
    return _bounded_text("tag", key, value, MAX_TAG_VALUE_LENGTH)


def _bounded_text(kind: str, key: str, value: Any, limit: int, hint: str = "") -> str:
    """MLflow would truncate (or reject) a longer value; refuse it here instead."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidTrackingValue(f"{kind} '{key}' is {len(text)} characters, MLflow keeps at most {limit}{hint}")
    return text


def metric_value(key: str, value: Any) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidTrackingValue(f"metric '{key}' must be a number, got {value!r}")
    try:
        number = float(value)  # numpy and torch scalars convert; tensors of one element too
    except (TypeError, ValueError):
        raise InvalidTrackingValue(f"metric '{key}' must be a number, got {type(value).__name__}") from None
    return number


def step_value(key: str, step: Any) -> int:
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            if float(step) == int(step):
                return int(step)
        except (TypeError, ValueError):
            pass
        raise InvalidTrackingValue(f"step for metric '{key}' must be an integer, got {step!r}")
    return step
