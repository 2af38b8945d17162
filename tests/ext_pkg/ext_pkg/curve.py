"""A tiny trainer for search tests: a noisy, decreasing validation loss per epoch.

Its floor is a bowl in `x` and `y` (best at x=0.3, y=0.7), so a sampler that learns finds it and a
pruner can tell a bad config early; the noise comes from the spec's seed and the config, so every
run is deterministic. Its `finally` writes and logs `models/last.json`, as a real trainer keeps its
last checkpoint when it is stopped.
"""

from __future__ import annotations

import json
import random
import time

from core import Plugin, PluginInfo, RunResult


def floor(x: float, y: float) -> float:
    return (x - 0.3) ** 2 + (y - 0.7) ** 2


class Curve(Plugin):
    info = PluginInfo(key="ext_curve", description="Logs a noisy decreasing val_loss per epoch (search tests)")

    def run(self, spec, *, context):
        cfg = spec.data_spec
        x, y = float(cfg.get("x", 0.5)), float(cfg.get("y", 0.5))
        epochs, pause = int(cfg.get("epochs", 8)), float(cfg.get("epoch_seconds", 0.0))
        rng = random.Random(f"{spec.seed}-{x:.6f}-{y:.6f}")
        done = 0
        context.tracking.log_params({"data.x": x, "data.y": y})
        try:
            for epoch in range(1, epochs + 1):
                if pause:
                    time.sleep(pause)
                val = floor(x, y) + 1.0 / epoch + rng.gauss(0.0, 0.01)
                done = epoch
                context.tracking.log_metrics({"train_loss": val * 0.9, "val_loss": val}, step=epoch)
        finally:
            path = context.artifact_dir / "models" / "last.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"epochs_done": done}))
            context.tracking.log_artifact(path, artifact_path="models")
        return RunResult(outputs={"val_loss": val, "epochs": done})
