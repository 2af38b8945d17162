"""The score pipeline: a finished run's saved model and tokenizer, new texts,
`data/predictions.csv` with label names and probabilities, metrics when labels exist."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch

from core import RunContext, SpecError
from plugins.common import mlflow_model
from plugins.common.files import earlier_run_file
from plugins.text_classifier import artifacts
from plugins.text_classifier.config import TextConfig


def load_source(context: RunContext, cfg: TextConfig) -> tuple[Path, dict[str, Any], dict[str, str], dict[str, Any]]:
    """The model folder and meta to score with (`score.run_id`'s, or those inside `score.model_uri`'s
    MLflow Model), the tags saying where they came from, and the params naming them."""
    if cfg.score_model_uri is None:
        folder, meta = locate_model(context, str(cfg.score_run_id))
        tags, params = {"source_run_id": str(cfg.score_run_id)}, {"model.source_run_id": cfg.score_run_id}
    else:
        model = context.model(cfg.score_model_uri)
        info = mlflow_model.check_made_by(model, plugins=("text_classifier",))
        folder = mlflow_model.artifact_file(model, info, artifacts.MLFLOW_MODEL_FILES)
        meta = json.loads(mlflow_model.artifact_file(model, info, artifacts.MLFLOW_META).read_text(encoding="utf-8"))
        tags, params = mlflow_model.source_tags(model), {"model.source_uri": cfg.score_model_uri}
    return folder, meta, tags, {**params, "model.epoch": meta["epoch"]}


def locate_model(context: RunContext, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The saved model folder and its meta of a finished training run: from that run's folder, or,
    if it is gone, from tracking."""
    field = "data_spec.score.run_id"
    meta_path = earlier_run_file(context, run_id, artifacts.MODEL_META, field=field)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != artifacts.META_FORMAT:
        raise SpecError(f"run '{run_id}' is not a text_classifier training run", field=field)
    folder = earlier_run_file(context, run_id, artifacts.MODEL_DIR, field=field)
    return folder, meta


def prediction_columns(logits: torch.Tensor, labels: list[str]) -> tuple[list[str], list[Any]]:
    """The predicted label and one probability per label: what `data/predictions.csv` and the
    MLflow Model's pyfunc both give."""
    proba = torch.softmax(logits, dim=1).numpy()
    predicted = [labels[int(i)] for i in proba.argmax(axis=1)] if len(proba) else []
    return ["prediction", *[f"proba_{label}" for label in labels]], [predicted, *proba.T]


def write_predictions(run_dir: Path, texts: list[str], logits: torch.Tensor, labels: list[str],
                      actual: list[str] | None) -> Path:
    proba = torch.softmax(logits, dim=1).numpy()
    path = run_dir / artifacts.PREDICTIONS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "text", "prediction", *[f"proba_{label}" for label in labels],
                         *(["actual"] if actual is not None else [])])
        for i, text in enumerate(texts):
            row = [i, text, labels[int(proba[i].argmax())], *(f"{p:.6g}" for p in proba[i])]
            writer.writerow(row + ([actual[i]] if actual is not None else []))
    return path
