"""The score pipeline: a finished run's `best.pt`, new data, `data/predictions.csv`, metrics when labels exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core import SpecError
from plugins.common.files import write_csv
from plugins.torch_mlp import artifacts
from plugins.torch_mlp.data import Encoder
from plugins.torch_mlp.train import check_format


def check_task(ckpt: dict, task: str, source: str) -> None:
    check_format(ckpt, source=source, field="data_spec.score.run_id")
    if ckpt["network"]["task"] != task:
        raise SpecError(f"the model was trained for {ckpt['network']['task']}, this spec says {task}",
                        field="data_spec.task", allowed=(ckpt["network"]["task"],))


def write_predictions(run_dir: Path, outputs: torch.Tensor, enc: Encoder, actual: np.ndarray | None) -> Path:
    """One row per input: the prediction (label value, or a number), per-class probabilities, the actual value."""
    if enc.task == "classification":
        proba = torch.softmax(outputs, dim=1).numpy()
        labels = np.array(enc.classes, dtype=object)[proba.argmax(axis=1)]
        names = np.array(enc.label_names, dtype=object)[proba.argmax(axis=1)]
        header = ["row", "prediction", "label_name", *[f"proba_{n}" for n in enc.label_names]]
        columns = [np.arange(len(labels)), labels, names, *proba.T]
    else:
        header = ["row", "prediction"]
        columns = [np.arange(len(outputs)), enc.decode_regression(outputs)]
    if actual is not None:
        header.append("actual")
        columns.append(actual)
    return write_csv(run_dir / artifacts.PREDICTIONS, header, columns)
