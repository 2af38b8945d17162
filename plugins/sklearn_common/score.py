"""The score pipeline: load a finished training run's model (its `model.joblib`, or an MLflow
Model by URI), predict, write predictions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from core import RunContext, SpecError
from plugins.common import mlflow_model
from plugins.common.files import earlier_run_file, write_csv
from plugins.common.tabular.data import Dataset
from plugins.sklearn_common import artifacts

PLUGINS = ("sklearn_classifier", "sklearn_regressor")


@dataclass
class ScoringModel:
    """The pipeline to score with, the features it was trained on, and where it came from."""

    pipeline: Pipeline
    features: list[str]
    tags: dict[str, str]
    params: dict[str, str]
    by_name: bool  # an MLflow Model's pipeline takes a DataFrame, model.joblib's an array

    def inputs(self, dataset: Dataset) -> Any:
        X = align_features(dataset, {"features": self.features})
        if not self.by_name:
            return X
        from plugins.sklearn_common.mlflow_model import frame

        wanted = [dataset.feature_names.index(f) for f in self.features]
        return frame(X, self.features, [i for i, c in enumerate(wanted) if c in dataset.categorical])


def load(context: RunContext, *, run_id: str | None, model_uri: str | None, task: str) -> ScoringModel:
    if model_uri is None:
        import joblib

        path, meta = locate_model(context, str(run_id))
        return ScoringModel(joblib.load(path), list(meta["features"]), {"source_run_id": str(run_id)},
                            {"model.source_run_id": str(run_id)}, by_name=False)
    import mlflow.sklearn

    resolved = context.model(model_uri)
    mlflow_model.check_made_by(resolved, plugins=PLUGINS, task=task)
    pipeline = mlflow.sklearn.load_model(str(resolved.path))
    features = [str(f) for f in pipeline.named_steps["columns"].feature_names_in_]
    return ScoringModel(pipeline, features, mlflow_model.source_tags(resolved), {"model.source_uri": model_uri},
                        by_name=True)


def locate_model(context: RunContext, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The training run's model and its meta: from that run's folder, or, if it is gone, from tracking."""
    field = "data_spec.score.run_id"
    model = earlier_run_file(context, run_id, artifacts.MODEL, field=field)
    meta = earlier_run_file(context, run_id, artifacts.MODEL_META, field=field)
    return model, json.loads(meta.read_text(encoding="utf-8"))


def align_features(dataset: Dataset, meta: dict[str, Any]) -> np.ndarray:
    """Columns in the order the model was trained on; a missing one is a clear error."""
    wanted = meta["features"]
    missing = [f for f in wanted if f not in dataset.feature_names]
    if missing:
        raise SpecError(f"the data lacks columns the model was trained on: {', '.join(missing)}",
                        field="data_spec.data", allowed=wanted)
    index = [dataset.feature_names.index(f) for f in wanted]
    return dataset.X[:, index]


def write_predictions(run_dir: Path, pipeline: Pipeline, X: np.ndarray, y: np.ndarray | None, task: str) -> Path:
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
