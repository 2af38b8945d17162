"""Import transformers offline and quiet: never touch the network (a missing model is an
error, not a hang), never start its own MLflow or other reporting, no progress bars or
advisory warnings in the run's output. Everything here runs before the first import."""

from __future__ import annotations

import os
from types import ModuleType

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_MLFLOW_INTEGRATION": "TRUE",  # core owns the MLflow run
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # safe under process pools (sweeps)
}


def transformers() -> ModuleType:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    import transformers as tf

    tf.utils.logging.set_verbosity_error()
    tf.utils.logging.disable_progress_bar()
    return tf
