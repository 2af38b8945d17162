"""The sklearn family's MLflow Model: the whole fitted pipeline (preprocessing included) behind a
first step that picks the feature columns by name, saved with the `sklearn` flavour, which gives
the pyfunc too. So `mlflow.pyfunc.load_model("runs:/<id>/model").predict(df)` takes a pandas
DataFrame of raw feature columns (any order, extra columns ignored) and returns what
`pipeline.predict` does; `mlflow.sklearn.load_model` gives the pipeline (`predict_proba` too).

The pipeline holds only scikit-learn objects, so loading it needs scikit-learn, not mlcore.
Imported from the run path only (mlflow, pandas, scikit-learn).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from core import RunContext
from plugins.common import mlflow_model
from plugins.common.tabular.data import Dataset


def frame(X: np.ndarray, feature_names: list[str], categorical: list[int]) -> pd.DataFrame:
    return mlflow_model.tabular_frame(X, feature_names, categorical)


def by_column_name(pipeline: Pipeline, X_train: np.ndarray, dataset: Dataset) -> Pipeline:
    """`pipeline` (fitted on arrays, columns by position) preceded by a step that takes a DataFrame
    and hands the pipeline its columns in training order, as arrays: predictions are the pipeline's own."""
    select = ColumnTransformer([("features", "passthrough", list(dataset.feature_names))], remainder="drop")
    select.fit(frame(X_train[:1], dataset.feature_names, dataset.categorical))
    return Pipeline([("columns", select), *pipeline.steps])


def log(context: RunContext, pipeline: Pipeline, X_train: np.ndarray, dataset: Dataset, *, plugin: str,
        task: str) -> Path:
    """Save the MLflow Model into the run folder and log it at artifact path `model`."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model = by_column_name(pipeline, X_train, dataset)
    rows = frame(X_train, dataset.feature_names, dataset.categorical)
    example = rows.head(mlflow_model.INPUT_EXAMPLE_ROWS)
    signature = infer_signature(rows, model.predict(example))

    # cloudpickle, not MLflow 3's default skops: skops refuses tree models unless their types are listed
    # as trusted in the MLmodel file itself (so it guards nothing a pickle would not), and it is not in
    # mlcore[sklearn]; cloudpickle comes with mlflow-skinny. The trust is that of models/model.joblib.
    requirements = [*mlflow_model.pip_requirements("sklearn"), *mlflow_model.pins("cloudpickle")]

    def save(folder: Path) -> None:
        mlflow.sklearn.save_model(model, str(folder), serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                                  signature=signature, input_example=example, pip_requirements=requirements,
                                  metadata=mlflow_model.metadata(context, plugin=plugin, task=task))

    return mlflow_model.save_and_log(context, save)
