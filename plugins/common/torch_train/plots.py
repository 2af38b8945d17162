"""The confusion matrix of a torch training run. Loss and metric curves are not drawn here: every
epoch's values are logged with their step, and both the run's report and MLflow's UI chart them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from plugins.common.plotting import pyplot, save_figure

if TYPE_CHECKING:
    import numpy as np


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

