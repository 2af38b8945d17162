"""After training: the best epoch's test metrics, the JSON files, the plots, everything logged.
And `salvage`, which keeps and logs what a killed or failed run had finished."""

from __future__ import annotations

from typing import Any

from core import RunContext, RunSpec
from plugins.common.files import log_standard_folders
from plugins.common.tabular import data as tabular
from plugins.common.tabular.data import Dataset, Split
from plugins.common.torch_train.plots import plot_confusion
from plugins.torch_common.checkpoint import load_checkpoint
from plugins.torch_mlp import artifacts
from plugins.torch_mlp.config import MlpConfig
from plugins.torch_mlp.data import Encoder, TensorSplit
from plugins.torch_mlp.eval import measure, predict
from plugins.torch_mlp.train import Training


def headline(task: str) -> tuple[str, ...]:
    return ("test_accuracy", "test_f1_macro") if task == "classification" else ("test_rmse", "test_r2")


def params(cfg: MlpConfig, spec: RunSpec, dataset: Dataset, enc: Encoder, *, device: str,
           start_epoch: int) -> dict[str, Any]:
    out = {"data.source": cfg.data.source, "data.n_rows": dataset.X.shape[0],
           "data.n_features": dataset.X.shape[1], "model.n_inputs": enc.n_inputs, "model.n_outputs": enc.n_outputs}
    if cfg.data.name:
        out["data.name"] = cfg.data.name
    if cfg.data.path:
        out["data.path"] = cfg.data.path
    out.update({f"data.{k}": v for k, v in cfg.data.synthetic.items()})
    out.update(cfg.params())
    out["train.device_used"] = device
    out["train.start_epoch"] = start_epoch
    if spec.seed is not None:
        out["seed"] = spec.seed
    return out


def finish(context: RunContext, training: Training, tensors: TensorSplit, dataset: Dataset,
           parts: Split) -> dict[str, float]:
    """Test metrics of the best epoch's weights, then files, plots and their tracking."""
    run_dir = context.artifact_dir
    if (run_dir / artifacts.BEST).is_file():
        training.model.load_state_dict(load_checkpoint(run_dir / artifacts.BEST)["model_state"])
    outputs = predict(training.model, tensors.X_test, device=training.device)
    metrics = measure(outputs, tensors.y_test, training.enc, "test")
    context.tracking.log_metrics(metrics, step=training.tracker.best_epoch or 0)
    tracker = training.tracker
    context.tracking.log_params({"train.best_epoch": tracker.best_epoch, "train.epochs_run": training.last_epoch,
                                 "train.stopped_early": training.stopped_early})
    artifacts.write_json(run_dir, artifacts.METRICS, {**metrics, "best_epoch": tracker.best_epoch,
                                                      f"best_{tracker.metric}": tracker.best_value})
    if training.cfg.plots and training.cfg.task == "classification":
        plot_confusion(tensors.y_test.numpy(), outputs.argmax(dim=1).numpy(), training.enc.label_names,
                       run_dir / artifacts.PLOTS, title=f"Confusion matrix (test, epoch {tracker.best_epoch})")
    if training.cfg.log_model:  # a finished run only: a salvaged one has no best model to stand for it
        from plugins.torch_mlp import pyfunc

        pyfunc.log(context, training, dataset, parts)
    _keep(context, training, dataset, parts)
    return metrics


def salvage(context: RunContext, training: Training, dataset: Dataset, parts: Split) -> None:
    """Best-effort: a second failure here must not hide the first, which the caller re-raises."""
    try:
        _keep(context, training, dataset, parts)
    except BaseException as exc:  # noqa: BLE001 - even an interrupt: the first failure is re-raised
        context.logger.warning("could not keep the partial training record: %s: %s", type(exc).__name__, exc)


def _keep(context: RunContext, training: Training, dataset: Dataset, parts: Split) -> None:
    run_dir = context.artifact_dir
    artifacts.write_json(run_dir, artifacts.HISTORY, {"epochs": training.epochs_done, **training.history})
    artifacts.write_json(run_dir, artifacts.DATA_SUMMARY, tabular.summary(dataset, parts, task=training.cfg.task))
    log_standard_folders(context)


