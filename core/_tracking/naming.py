"""The naming conventions (PLUGIN_CONVENTIONS.md, "Tracking conventions"), checked as a plugin logs.

- params: `data.*`, `model.*`, `split.*`, `train.*` (how a model is trained), or `seed`;
- metrics: `<split>_<metric>[_<average>]`, split one of train, val, test, score;
- tags: `purpose` is smoke, synthetic or realdata; `pipeline` is train or score.

By default a slip is one warning per name in the run's log, so a run is never lost
to a naming habit; strict mode (`--strict-names`, `CORE_STRICT_NAMES=1`) makes it an
error at the call. Names MLflow would reject or change are always errors, raised by
`core._tracking.values` at the call, whatever the mode.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from core._errors import InvalidTrackingValue

PARAM_PREFIXES = ("data", "model", "split", "train")
SPLITS = ("train", "val", "test", "score")
TAG_VALUES = {"purpose": ("smoke", "synthetic", "realdata"), "pipeline": ("train", "score")}
_PARAM_RE = re.compile(rf"^({'|'.join(PARAM_PREFIXES)})\.[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_METRIC_RE = re.compile(rf"^({'|'.join(SPLITS)})_[a-z0-9]+(_[a-z0-9]+)*$")

#: metric name endings that measure the run's machine (epoch time, GPU memory), not what it learned:
#: left out when runs are compared for reproducibility
MEASUREMENTS = ("_seconds", "_mem_mb")


def param_problem(key: str) -> str | None:
    if key == "seed" or _PARAM_RE.match(key):
        return None
    return f"param '{key}' should be data.*, model.*, split.*, train.* or seed"


def metric_problem(key: str) -> str | None:
    if _METRIC_RE.match(key):
        return None
    return f"metric '{key}' should be <split>_<metric>[_<average>] with split in {', '.join(SPLITS)} (e.g. val_f1_macro)"


def tag_problem(key: str, value: Any) -> str | None:
    allowed = TAG_VALUES.get(key)
    if allowed is None or str(value) in allowed:
        return None
    return f"tag {key}={value!r} should be one of {', '.join(allowed)}"


class NamingPolicy:
    """Warns once per offending name, or raises in strict mode."""

    def __init__(self, *, strict: bool = False, logger: logging.Logger | None = None) -> None:
        self.strict = strict
        self.logger = logger or logging.getLogger("mlcore")
        self.warned: set[str] = set()

    def params(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._judge(param_problem(key) if isinstance(key, str) else None)

    def metrics(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._judge(metric_problem(key) if isinstance(key, str) else None)

    def tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self._judge(tag_problem(key, value) if isinstance(key, str) else None)

    def _judge(self, problem: str | None) -> None:
        if problem is None:
            return
        if self.strict:
            raise InvalidTrackingValue(f"{problem} (strict names; see PLUGIN_CONVENTIONS.md)")
        if problem not in self.warned:
            self.warned.add(problem)
            self.logger.warning("naming: %s (a warning; --strict-names makes it an error)", problem)
