"""Loss and metrics of one split from the network's outputs; regression metrics in the target's units."""

from __future__ import annotations

import numpy as np
import torch
from sklearn import metrics as skm
from torch import nn

from plugins.common.torch_train.metrics import classification_metrics
from plugins.torch_mlp.data import Encoder


def loss_fn(task: str) -> nn.Module:
    return nn.CrossEntropyLoss() if task == "classification" else nn.MSELoss()


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, *, device: torch.device, batch_size: int = 4096) -> torch.Tensor:
    """Raw outputs (logits, or the standardised regression value) on the CPU, in eval mode."""
    model.eval()
    outs = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outs) if outs else torch.empty(0)


def measure(outputs: torch.Tensor, y: torch.Tensor, enc: Encoder, prefix: str) -> dict[str, float]:
    """`{prefix}_loss` and the task's metrics: accuracy and macro F1, or RMSE, MAE and R²."""
    if enc.task == "classification":
        return classification_metrics(outputs, y, enc.n_outputs, prefix)
    loss = nn.functional.mse_loss(outputs.reshape(-1), y.reshape(-1)).item()
    pred = enc.decode_regression(outputs)
    truth = enc.decode_regression(y)
    return {
        f"{prefix}_loss": float(loss),
        f"{prefix}_rmse": float(np.sqrt(skm.mean_squared_error(truth, pred))),
        f"{prefix}_mae": float(skm.mean_absolute_error(truth, pred)),
        f"{prefix}_r2": float(skm.r2_score(truth, pred)) if len(truth) > 1 else float("nan"),
    }
