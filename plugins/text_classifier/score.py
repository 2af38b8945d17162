"""The score pipeline: a finished run's saved model and tokenizer, new texts,
`data/predictions.csv` with label names and probabilities, metrics when labels exist."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch

from core import RunContext, SpecError
from plugins.common.files import earlier_run_file
from plugins.text_classifier import artifacts


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
