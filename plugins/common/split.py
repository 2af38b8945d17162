"""The `split` section every family shares: train/val/test ratios. Pure Python.

    split: {train: 0.7, val: 0.15, test: 0.15}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core import SpecError
from plugins.common.fields import only_fields

DEFAULT_SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15}


def parse_split(cfg: Mapping[str, Any]) -> dict[str, float]:
    only_fields(cfg, tuple(DEFAULT_SPLIT), "data_spec.split")
    split = {**DEFAULT_SPLIT, **cfg} if cfg else dict(DEFAULT_SPLIT)
    if cfg and set(cfg) != set(DEFAULT_SPLIT):
        missing = sorted(set(DEFAULT_SPLIT) - set(cfg))
        raise SpecError(f"give all three ratios (missing: {', '.join(missing)})", field="data_spec.split")
    for key, value in split.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise SpecError(f"must be a number in (0, 1), got {value!r}", field=f"data_spec.split.{key}")
    total = sum(split.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise SpecError(f"ratios must sum to 1, they sum to {total:g}", field="data_spec.split")
    return {k: float(v) for k, v in split.items()}
