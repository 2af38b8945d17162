"""`text_classifier`'s MLflow Model: a pyfunc that takes a `text` column (a pandas DataFrame) and
returns one row per text: the predicted label and one probability per label (the score pipeline's
`data/predictions.csv` columns, at full precision).

The tokenizer and the weights travel inside the MLflow Model (the run's `save_pretrained` folder as
an artifact), loaded offline (`local_files_only`, `HF_HUB_OFFLINE`) and on the CPU: loading never
reaches a model hub. `TextPyfunc` is pickled by reference to this module, so the loading
environment needs mlcore with the nlp extra installed; imported only from a run's path and by
MLflow when it loads the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import pandas as pd
import torch

from core import RunContext
from plugins.common import mlflow_model
from plugins.text_classifier import artifacts

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from plugins.text_classifier.data import Texts
    from plugins.text_classifier.train import TextTraining

TEXT = "text"  # the input column


class TextPyfunc(mlflow.pyfunc.PythonModel):
    """A `text` column in, labels and probabilities out, on the CPU."""

    def load_context(self, context: Any) -> None:
        self.load_folder(Path(context.artifacts[artifacts.MLFLOW_MODEL_FILES]),
                         Path(context.artifacts[artifacts.MLFLOW_META]))

    def load_folder(self, folder: Path, meta: Path) -> None:
        from plugins.text_classifier.model import load_pretrained

        self.meta = json.loads(meta.read_text(encoding="utf-8"))
        self.tokenizer, self.model = load_pretrained(str(folder), labels=None, field="model")
        self.model.to(torch.device("cpu")).eval()

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return predict_frame(self.model, self.tokenizer, self.meta, list(model_input[TEXT]))


def predict_frame(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, meta: dict[str, Any],
                  texts: list[Any], device: torch.device | None = None) -> pd.DataFrame:
    from plugins.text_classifier.data import Texts
    from plugins.text_classifier.score import prediction_columns
    from plugins.text_classifier.train import encode, predict_logits

    encoded = encode(tokenizer, Texts([str(t) for t in texts], None), meta["labels"], meta["max_length"])
    logits = predict_logits(model, encoded, device=device or torch.device("cpu"))
    header, columns = prediction_columns(logits, meta["labels"])
    return pd.DataFrame(dict(zip(header, columns)))


def log(context: RunContext, training: TextTraining, tokenizer: PreTrainedTokenizerBase, train: Texts) -> Path:
    """Save the MLflow Model (from the run's saved model folder and meta) into the run folder and
    log it at artifact path `model`."""
    from mlflow.models import infer_signature

    run_dir = context.artifact_dir
    meta = json.loads((run_dir / artifacts.MODEL_META).read_text(encoding="utf-8"))
    rows = pd.DataFrame({TEXT: train.texts})
    example = rows.head(mlflow_model.INPUT_EXAMPLE_ROWS)
    signature = infer_signature(rows, predict_frame(training.model, tokenizer, meta, list(example[TEXT]),
                                                    device=training.device))
    requirements = [*mlflow_model.pip_requirements("nlp"), *mlflow_model.pins("cloudpickle")]

    def save(folder: Path) -> None:
        mlflow.pyfunc.save_model(
            str(folder), python_model=TextPyfunc(), signature=signature, input_example=example,
            artifacts={artifacts.MLFLOW_MODEL_FILES: str(run_dir / artifacts.MODEL_DIR),
                       artifacts.MLFLOW_META: str(run_dir / artifacts.MODEL_META)},
            pip_requirements=requirements,
            metadata=mlflow_model.metadata(context, plugin="text_classifier", task="classification"))

    return mlflow_model.save_and_log(context, save)
