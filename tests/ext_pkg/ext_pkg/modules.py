"""A plugin that tells which process ran it and whether MLflow is imported there: a sweep's worker runs
several runs one after another, so a later run sees what the worker's start and its earlier runs imported."""

import os
import sys

from core import Plugin, PluginInfo, RunResult


class Modules(Plugin):
    info = PluginInfo(key="ext_modules", description="Logs step metrics, says whether MLflow is imported")

    def run(self, spec, *, context):
        steps = int(spec.data_spec.get("steps", 3))
        for step in range(steps):
            context.tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
        context.tracking.log_params({"data.steps": steps})
        return RunResult(outputs={"pid": os.getpid(), "mlflow_imported": "mlflow" in sys.modules})
