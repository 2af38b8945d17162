"""`torch_mlp`'s MLflow Model: a pyfunc that takes raw tabular columns (a pandas DataFrame, one
column per feature), encodes them with the encoder the run trained with (standardised numbers, a
missing one as the train mean, one-hot categories) and returns one row per input: the predicted
label, its name and one probability per class (classification: the columns of the score
pipeline's `data/predictions.csv`), or the predicted value (regression).

The network travels as a small checkpoint (its shape, the encoder and the best epoch's weights;
no optimiser or RNG state), read with `map_location="cpu"` and `weights_only=True`: a model
trained on CUDA loads on a machine without a GPU, and reading it runs no pickled code.

`MlpPyfunc` is pickled by reference to this module, so the loading environment needs mlcore with
the torch extra installed (which also gives the encoder and the network code it calls); imported
only from a run's path and by MLflow when it loads the model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import pandas as pd
import torch

from core import RunContext
from plugins.common import mlflow_model
from plugins.torch_mlp import artifacts

if TYPE_CHECKING:
    from plugins.common.tabular.data import Dataset, Split
    from plugins.torch_mlp.data import Encoder
    from plugins.torch_mlp.train import Training

WEIGHTS = artifacts.MLFLOW_WEIGHTS


class MlpPyfunc(mlflow.pyfunc.PythonModel):
    """Raw columns in, labels and probabilities (or values) out, on the CPU."""

    def load_context(self, context: Any) -> None:
        self.load_weights(Path(context.artifacts[WEIGHTS]))

    def load_weights(self, path: Path) -> None:
        from plugins.torch_common.checkpoint import load_checkpoint
        from plugins.torch_mlp.train import model_from_checkpoint

        # map_location: tensors saved from cuda:N come back on the CPU (no GPU needed to load).
        self.model, self.enc = model_from_checkpoint(load_checkpoint(path, map_location="cpu"), torch.device("cpu"))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return predict_frame(self.model, self.enc, model_input)


def predict_frame(model: torch.nn.Module, enc: Encoder, rows: pd.DataFrame) -> pd.DataFrame:
    """The score pipeline's prediction columns for `rows` (no row number, no actual value)."""
    from plugins.torch_mlp.eval import predict
    from plugins.torch_mlp.score import prediction_columns

    X = enc.encode_X(rows.to_numpy(dtype=object), [str(c) for c in rows.columns])
    header, columns = prediction_columns(predict(model, X, device=torch.device("cpu")), enc)
    return pd.DataFrame(dict(zip(header, columns)))


def slim_checkpoint(training: Training, run_id: str) -> dict[str, Any]:
    """What predicting needs, from the model as it is now (the best epoch's weights, after `finish`)."""
    return {"format": artifacts.CHECKPOINT_FORMAT, "run_id": run_id, "epoch": training.tracker.best_epoch,
            "network": training.cfg.network(), "encoder": training.enc.to_dict(),
            "model_state": training.model.state_dict()}


def log(context: RunContext, training: Training, dataset: Dataset, parts: Split) -> Path:
    """Save the MLflow Model into the run folder and log it at artifact path `model`."""
    from mlflow.models import infer_signature

    from plugins.torch_common.checkpoint import save_checkpoint

    rows = mlflow_model.tabular_frame(parts.X_train, dataset.feature_names, dataset.categorical)
    example = rows.head(mlflow_model.INPUT_EXAMPLE_ROWS)
    training.model.eval()
    signature = infer_signature(rows, predict_frame(training.model.cpu(), training.enc, example))
    training.model.to(training.device)
    requirements = [*mlflow_model.pip_requirements("torch"), *mlflow_model.pins("cloudpickle")]

    def save(folder: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            weights = save_checkpoint(Path(tmp) / "weights.pt", slim_checkpoint(training, context.run_id))
            mlflow.pyfunc.save_model(str(folder), python_model=MlpPyfunc(), artifacts={WEIGHTS: str(weights)},
                                     signature=signature, input_example=example, pip_requirements=requirements,
                                     metadata=mlflow_model.metadata(context, plugin="torch_mlp",
                                                                    task=training.cfg.task))

    return mlflow_model.save_and_log(context, save)
