"""Comparing runs: which params differ, metrics side by side with the best marked, and the
reproducibility verdict of `core rerun` (metrics within tolerance, environment differences)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core._records import RunRecord, lower_is_better
from core._tracking.naming import MEASUREMENTS

ENV_KEYS = ("python", "implementation", "platform", "machine", "mlcore", "git_commit")


def differing_params(runs: list[RunRecord]) -> dict[str, list[str | None]]:
    keys = sorted({k for run in runs for k in run.params})
    table = {k: [run.params.get(k) for run in runs] for k in keys}
    return {k: values for k, values in table.items() if len(set(values)) > 1}


def metric_table(runs: list[RunRecord]) -> dict[str, dict[str, Any]]:
    """metric -> {"values": [...per run...], "best": index of the best run or None}."""
    out = {}
    for key in sorted({k for run in runs for k in run.metrics}):
        values = [run.metrics.get(key) for run in runs]
        finite = [(i, v) for i, v in enumerate(values) if isinstance(v, (int, float)) and math.isfinite(v)]
        best = None
        neutral = key.endswith(("_lr", "_epoch"))  # a learning rate or an epoch number is not better higher
        if len(finite) > 1 and len({v for _, v in finite}) > 1 and not neutral:
            pick = min if lower_is_better(key) else max
            best = pick(finite, key=lambda item: item[1])[0]
        out[key] = {"values": values, "best": best}
    return out


@dataclass
class Verdict:
    reproduced: bool
    differing: dict[str, dict[str, float | None]] = field(default_factory=dict)  # metric -> original, rerun, diff
    environment: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # what -> (original, rerun)

    def to_dict(self) -> dict[str, Any]:
        return {"reproduced": self.reproduced, "differing_metrics": self.differing,
                "environment_differences": {k: {"original": a, "rerun": b} for k, (a, b) in self.environment.items()}}


def reproduction_verdict(original: RunRecord, rerun: RunRecord, *, rtol: float, atol: float) -> Verdict:
    """Every final metric of the original must come out again within `atol + rtol * |original|`; what
    measures the machine rather than the model (`*_seconds`, `*_mem_mb`) is left out."""
    differing = {}
    for key, old in sorted(original.metrics.items()):
        if key.endswith(MEASUREMENTS):
            continue
        new = rerun.metrics.get(key)
        if new is None:
            differing[key] = {"original": old, "rerun": None, "abs_diff": None}
        elif not _close(old, new, rtol=rtol, atol=atol):
            differing[key] = {"original": old, "rerun": new, "abs_diff": abs(new - old)}
    for key in sorted(k for k in set(rerun.metrics) - set(original.metrics) if not k.endswith(MEASUREMENTS)):
        differing[key] = {"original": None, "rerun": rerun.metrics[key], "abs_diff": None}
    return Verdict(not differing, differing, environment_differences(original.environment, rerun.environment))


def environment_differences(env_a: Mapping[str, Any], env_b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    diffs = {k: (env_a.get(k), env_b.get(k)) for k in ENV_KEYS if env_a.get(k) != env_b.get(k)}
    pkgs_a, pkgs_b = env_a.get("packages") or {}, env_b.get("packages") or {}
    for name in sorted(set(pkgs_a) | set(pkgs_b)):
        if pkgs_a.get(name) != pkgs_b.get(name):
            diffs[f"package {name}"] = (pkgs_a.get(name), pkgs_b.get(name))
    return diffs


def _close(a: float, b: float, *, rtol: float, atol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return abs(a - b) <= atol + rtol * abs(a)
