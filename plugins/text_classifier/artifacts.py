"""Where `text_classifier` writes its files, in the standard run-folder layout."""

from __future__ import annotations

from pathlib import Path

from plugins.common.files import write_json  # noqa: F401 - one JSON writer for every family

MODEL_DIR = Path("models") / "model"  # save_pretrained: config, weights, tokenizer
MODEL_META = Path("models") / "model_meta.json"
METRICS = Path("metrics") / "metrics.json"
HISTORY = Path("metrics") / "history.json"
DATA_SUMMARY = Path("data") / "data_summary.json"
PREDICTIONS = Path("data") / "predictions.csv"
PLOTS = Path("plots")
META_FORMAT = "mlcore.text_classifier/1"
# The MLflow Model's pyfunc artifacts (pyfunc.py): the save_pretrained folder and the meta.
MLFLOW_MODEL_FILES, MLFLOW_META = "model", "meta"
