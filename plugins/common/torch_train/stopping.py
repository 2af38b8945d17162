"""Which epoch is best so far, and whether to stop: early stopping on one val metric."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class BestTracker:
    metric: str
    mode: str  # "min" or "max"
    patience: int | None = None  # None: never stop early, only remember the best epoch
    min_delta: float = 0.0
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record one epoch's value; True when it is the new best."""
        if math.isnan(value):
            improved = False
        elif self.best_value is None:
            improved = True
        elif self.mode == "min":
            improved = value < self.best_value - self.min_delta
        else:
            improved = value > self.best_value + self.min_delta
        if improved:
            self.best_value, self.best_epoch, self.bad_epochs = float(value), epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BestTracker:
        return cls(**state)
