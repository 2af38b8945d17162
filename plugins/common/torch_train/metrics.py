"""Classification loss and metrics from logits: what every torch-based classifier logs per split."""

from __future__ import annotations

import torch
from sklearn import metrics as skm
from torch import nn


def classification_metrics(logits: torch.Tensor, y: torch.Tensor, n_classes: int, prefix: str) -> dict[str, float]:
    """`{prefix}_loss` (cross-entropy), `{prefix}_accuracy`, `{prefix}_f1_macro`.

    A label the model has no unit for (-1, from scoring data) counts as wrong rather than crashing.
    """
    known = y >= 0
    loss = nn.functional.cross_entropy(logits[known], y[known]).item() if known.any() else float("nan")
    pred = logits.argmax(dim=1).numpy()
    truth = y.numpy()
    return {
        f"{prefix}_loss": float(loss),
        f"{prefix}_accuracy": float(skm.accuracy_score(truth, pred)),
        f"{prefix}_f1_macro": float(skm.f1_score(truth, pred, average="macro", labels=list(range(n_classes)),
                                                 zero_division=0)),
    }
