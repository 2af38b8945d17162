"""The score pipeline: a finished run's `best.pt` (or the weights inside an MLflow Model given by
URI), new data, `data/predictions.csv`, metrics when labels exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from core import RunContext, SpecError
from plugins.common import mlflow_model
from plugins.common.files import earlier_run_file, write_csv
from plugins.torch_common.checkpoint import load_checkpoint
from plugins.torch_mlp import artifacts
from plugins.torch_mlp.config import MlpConfig
from plugins.torch_mlp.data import Encoder
from plugins.torch_mlp.train import check_format


def load_source(context: RunContext, cfg: MlpConfig) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The checkpoint to score with (`score.run_id`'s best.pt, or `score.model_uri`'s weights), the
    tags saying where it came from, and the params naming it."""
    if cfg.score_model_uri is None:
        path = earlier_run_file(context, str(cfg.score_run_id), artifacts.BEST, field="data_spec.score.run_id")
        tags, params = {"source_run_id": str(cfg.score_run_id)}, {"model.source_run_id": cfg.score_run_id}
    else:
        model = context.model(cfg.score_model_uri)
        info = mlflow_model.check_made_by(model, plugins=("torch_mlp",), task=cfg.task)
        path = mlflow_model.artifact_file(model, info, artifacts.MLFLOW_WEIGHTS)
        tags, params = mlflow_model.source_tags(model), {"model.source_uri": cfg.score_model_uri}
    ckpt = load_checkpoint(path)
    check_task(ckpt, cfg.task, str(path))
    return ckpt, tags, {**params, "model.epoch": ckpt["epoch"]}


def check_task(ckpt: dict, task: str, source: str) -> None:
    check_format(ckpt, source=source, field="data_spec.score.run_id")
    if ckpt["network"]["task"] != task:
        raise SpecError(f"the model was trained for {ckpt['network']['task']}, this spec says {task}",
                        field="data_spec.task", allowed=(ckpt["network"]["task"],))


def prediction_columns(outputs: torch.Tensor, enc: Encoder) -> tuple[list[str], list[Any]]:
    """The prediction (label value, or a number), its label name and per-class probabilities: what
    `data/predictions.csv` and the MLflow Model's pyfunc both give."""
    if enc.task == "classification":
        proba = torch.softmax(outputs, dim=1).numpy()
        labels = np.array(enc.classes, dtype=object)[proba.argmax(axis=1)]
        names = np.array(enc.label_names, dtype=object)[proba.argmax(axis=1)]
        return ["prediction", "label_name", *[f"proba_{n}" for n in enc.label_names]], [labels, names, *proba.T]
    return ["prediction"], [enc.decode_regression(outputs)]


def write_predictions(run_dir: Path, outputs: torch.Tensor, enc: Encoder, actual: np.ndarray | None) -> Path:
    """One row per input: the row number, the prediction columns, the actual value."""
    names, values = prediction_columns(outputs, enc)
    header, columns = ["row", *names], [np.arange(len(outputs)), *values]
    if actual is not None:
        header.append("actual")
        columns.append(actual)
    return write_csv(run_dir / artifacts.PREDICTIONS, header, columns)
