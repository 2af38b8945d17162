"""After training: the best epoch's weights saved with `save_pretrained`, its test metrics,
the JSON files and plots, all logged. `salvage` does the same for a run cut short."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import RunContext
from plugins.common.files import log_standard_folders
from plugins.common.torch_train.metrics import classification_metrics
from plugins.common.torch_train.plots import plot_confusion
from plugins.text_classifier import artifacts, data
from plugins.text_classifier.data import Texts, TextSplit
from plugins.text_classifier.train import Encoded, TextTraining, predict_logits

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def finish(context: RunContext, training: TextTraining, tokenizer: PreTrainedTokenizerBase, test: Encoded,
           texts: Texts, parts: TextSplit) -> dict[str, float]:
    training.restore_best()
    logits = predict_logits(training.model, test, device=training.device)
    metrics = classification_metrics(logits, test.labels, len(training.labels), "test")
    context.tracking.log_metrics(metrics, step=training.tracker.best_epoch or 0)
    context.tracking.log_params({"train.best_epoch": training.tracker.best_epoch,
                                 "train.epochs_run": training.epochs_done[-1] if training.epochs_done else 0,
                                 "train.stopped_early": training.stopped_early})
    run_dir = context.artifact_dir
    artifacts.write_json(run_dir, artifacts.METRICS, {**metrics, "best_epoch": training.tracker.best_epoch,
                                                      f"best_{training.tracker.metric}": training.tracker.best_value})
    if training.cfg.plots:
        plot_confusion(test.labels.numpy(), logits.argmax(dim=1).numpy(), training.labels, run_dir / artifacts.PLOTS,
                       title=f"Confusion matrix (test, epoch {training.tracker.best_epoch})")
    _keep(context, training, tokenizer, texts, parts, log_model=training.cfg.log_model)
    return metrics


def salvage(context: RunContext, training: TextTraining | None, tokenizer: PreTrainedTokenizerBase, texts: Texts,
            parts: TextSplit) -> None:
    """Best-effort: a second failure here must not hide the first, which the caller re-raises."""
    if training is None:
        return
    try:
        training.restore_best()
        _keep(context, training, tokenizer, texts, parts)
    except BaseException as exc:  # noqa: BLE001 - even an interrupt: the first failure is re-raised
        context.logger.warning("could not keep the partial training record: %s: %s", type(exc).__name__, exc)


def _keep(context: RunContext, training: TextTraining, tokenizer: PreTrainedTokenizerBase, texts: Texts,
          parts: TextSplit, *, log_model: bool = False) -> None:
    run_dir = context.artifact_dir
    if training.best_state is not None:  # a model only once an epoch has finished
        training.model.save_pretrained(run_dir / artifacts.MODEL_DIR)
        tokenizer.save_pretrained(run_dir / artifacts.MODEL_DIR)
        artifacts.write_json(run_dir, artifacts.MODEL_META, {
            "format": artifacts.META_FORMAT, "labels": training.labels, "epoch": training.tracker.best_epoch,
            "max_length": training.cfg.model.max_length, "text_column": training.cfg.data.text_column,
            "label_column": training.cfg.data.label_column})
    artifacts.write_json(run_dir, artifacts.HISTORY, {"epochs": training.epochs_done, **training.history})
    artifacts.write_json(run_dir, artifacts.DATA_SUMMARY, data.summary(texts, parts))
    if log_model and training.best_state is not None:  # before the folders are logged: they leave it out
        from plugins.text_classifier import pyfunc

        pyfunc.log(context, training, tokenizer, parts.train)
    log_standard_folders(context)
