"""The score pipeline: load a finished training run's model, predict, write predictions."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from core import SpecError
from plugins.common.files import write_csv
from plugins.sklearn_common import artifacts
from plugins.sklearn_common.data import Dataset


def locate_model(context, run_id: str) -> tuple[Path, dict]:
    """From the training run's folder, or, if that is gone, from its MLflow artifacts."""
    runs = context.artifact_dir.parent
    folder = runs / run_id
    if (folder / artifacts.MODEL).is_file():
        return folder / artifacts.MODEL, json.loads((folder / artifacts.MODEL_META).read_text())
    try:
        dst = Path(tempfile.mkdtemp(prefix="mlcore-model-", dir=context.artifact_dir))
        model = context.tracking.download_artifact(run_id, artifacts.MODEL.as_posix(), dst)
        meta = context.tracking.download_artifact(run_id, artifacts.MODEL_META.as_posix(), dst)
    except Exception as exc:  # noqa: BLE001 - reported as one clear line
        raise SpecError(
            f"no model for run '{run_id}': not in {folder} and not in tracking ({exc})",
            field="data_spec.score.run_id",
        ) from None
    return model, json.loads(Path(meta).read_text())


def align_features(dataset: Dataset, meta: dict) -> np.ndarray:
    """Columns in the order the model was trained on; a missing one is a clear error."""
    wanted = meta["features"]
    missing = [f for f in wanted if f not in dataset.feature_names]
    if missing:
        raise SpecError(f"the data lacks columns the model was trained on: {', '.join(missing)}",
                        field="data_spec.data", allowed=wanted)
    index = [dataset.feature_names.index(f) for f in wanted]
    return dataset.X[:, index]


def write_predictions(run_dir: Path, pipeline, X: np.ndarray, y: np.ndarray | None, task: str) -> Path:
    pred = pipeline.predict(X)
    header = ["row", "prediction"]
    columns = [np.arange(len(pred)), pred]
    if task == "classification" and hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(X)
        header += [f"proba_{c}" for c in pipeline.classes_]
        columns += [proba[:, i] for i in range(proba.shape[1])]
    if y is not None:
        header.append("actual")
        columns.append(y)
    return write_csv(run_dir / artifacts.PREDICTIONS, header, columns)
