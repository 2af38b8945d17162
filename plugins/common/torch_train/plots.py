"""Loss curves and the confusion matrix: what people look at first after a training run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from plugins.common.plotting import pyplot, save_figure

if TYPE_CHECKING:
    import numpy as np


def plot_history(history: Mapping[str, Sequence[float]], epochs: Sequence[int], plots_dir: Path, *,
                 best_epoch: int | None = None) -> list[Path]:
    """`loss_curves.png` (train and val loss) and `val_metrics.png` (the other val metrics)."""
    plt = pyplot()
    written = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("train_loss", "val_loss"):
        if name in history:
            ax.plot(epochs, history[name], marker="o", markersize=3, label=name)
    if best_epoch is not None:
        ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=0.8, label=f"best epoch ({best_epoch})")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss per epoch")
    ax.legend()
    written.append(save_figure(fig, plots_dir / "loss_curves.png"))
    others = [k for k in history if k.startswith("val_") and k != "val_loss"]
    if others:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in others:
            ax.plot(epochs, history[name], marker="o", markersize=3, label=name)
        ax.set(xlabel="epoch", title="Validation metrics per epoch")
        ax.legend()
        written.append(save_figure(fig, plots_dir / "val_metrics.png"))
    return written


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], plots_dir: Path, *,
                   title: str) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) + 3),) * 2)
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=list(range(len(labels))),
                                            display_labels=list(labels), ax=ax, colorbar=False)
    ax.set_title(title)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    return save_figure(fig, plots_dir / "confusion_matrix.png")

