"""Where `torch_mlp` writes its files, in the standard run-folder layout."""

from __future__ import annotations

from pathlib import Path

from plugins.common.files import write_json  # noqa: F401 - one JSON writer for every family

BEST = Path("models") / "best.pt"
LAST = Path("models") / "last.pt"
METRICS = Path("metrics") / "metrics.json"
HISTORY = Path("metrics") / "history.json"
DATA_SUMMARY = Path("data") / "data_summary.json"
PREDICTIONS = Path("data") / "predictions.csv"
PLOTS = Path("plots")
CHECKPOINT_FORMAT = "mlcore.torch_mlp/1"
MLFLOW_WEIGHTS = "weights"  # the MLflow Model's pyfunc artifact: network, encoder and best weights (pyfunc.py)
