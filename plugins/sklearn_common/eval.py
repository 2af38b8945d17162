"""Metrics for every split and the plots people would rather look at than read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from plugins.common.plotting import pyplot, save_figure

Measure = Callable[[Pipeline, np.ndarray, np.ndarray, str], dict[str, float]]


def measure_for(task: str) -> Measure:
    """The metric function of a task: `(pipeline, X, y, prefix) -> {prefix_metric: value}`."""
    return classification_metrics if task == "classification" else regression_metrics


def classification_metrics(pipeline: Pipeline, X: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    pred = pipeline.predict(X)
    out = {
        f"{prefix}_accuracy": skm.accuracy_score(y, pred),
        f"{prefix}_f1_macro": skm.f1_score(y, pred, average="macro", zero_division=0),
        f"{prefix}_precision_macro": skm.precision_score(y, pred, average="macro", zero_division=0),
        f"{prefix}_recall_macro": skm.recall_score(y, pred, average="macro", zero_division=0),
    }
    if hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(X)
        classes = pipeline.classes_
        out[f"{prefix}_log_loss"] = skm.log_loss(y, proba, labels=classes)
        try:
            if len(classes) == 2:
                out[f"{prefix}_roc_auc"] = skm.roc_auc_score(y, proba[:, 1])
            else:
                out[f"{prefix}_roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        except ValueError:
            pass  # a split that lacks a class has no defined AUC
    return {k: float(v) for k, v in out.items()}


def regression_metrics(pipeline: Pipeline, X: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    pred = pipeline.predict(X)
    return {
        f"{prefix}_rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
        f"{prefix}_mae": float(skm.mean_absolute_error(y, pred)),
        f"{prefix}_r2": float(skm.r2_score(y, pred)),
    }


def plot_classification(pipeline: Pipeline, X: np.ndarray, y: np.ndarray, feature_names: list[str],
                        plots_dir: Path, *, class_names: list[str] | None = None) -> list[Path]:
    """Confusion matrix (with the classes' names where the data set has them: benign, malignant),
    ROC curves and importances."""
    plt = pyplot()
    written = []
    fig, ax = plt.subplots(figsize=(6, 5))
    labels = list(pipeline.classes_)
    named = class_names is not None and all(isinstance(c, (int, np.integer)) and 0 <= c < len(class_names)
                                            for c in labels)
    skm.ConfusionMatrixDisplay.from_predictions(
        y, pipeline.predict(X), labels=labels, ax=ax, colorbar=False,
        display_labels=[class_names[int(c)] for c in labels] if named else None)
    if named:
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.set_title("Confusion matrix (test)")
    written.append(save_figure(fig, plots_dir / "confusion_matrix.png"))
    if hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(X)
        fig, ax = plt.subplots(figsize=(6, 5))
        classes = list(pipeline.classes_)
        for i, cls in enumerate(classes if len(classes) > 2 else classes[1:]):
            if len(np.unique(y == cls)) < 2:
                continue
            fpr, tpr, _ = skm.roc_curve(y == cls, proba[:, i if len(classes) > 2 else 1])
            ax.plot(fpr, tpr, label=f"{cls} (AUC {skm.auc(fpr, tpr):.3f})")
        ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve (test, one-vs-rest)")
        ax.legend(loc="lower right", fontsize="small")
        written.append(save_figure(fig, plots_dir / "roc_curve.png"))
    written += _plot_importance(pipeline, feature_names, plots_dir)
    return written


def plot_regression(pipeline: Pipeline, X: np.ndarray, y: np.ndarray, feature_names: list[str],
                    plots_dir: Path) -> list[Path]:
    plt = pyplot()
    pred = pipeline.predict(X)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(y, pred, s=10, alpha=0.6)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=0.8)
    ax.set(xlabel="Actual", ylabel="Predicted", title="Predicted vs actual (test)")
    written = [save_figure(fig, plots_dir / "predicted_vs_actual.png")]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(pred, y - pred, s=10, alpha=0.6)
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set(xlabel="Predicted", ylabel="Residual (actual - predicted)", title="Residuals (test)")
    written.append(save_figure(fig, plots_dir / "residuals.png"))
    return written + _plot_importance(pipeline, feature_names, plots_dir)


def _plot_importance(pipeline: Pipeline, feature_names: list[str], plots_dir: Path) -> list[Path]:
    model = pipeline.named_steps["model"]
    if hasattr(model, "feature_importances_"):
        values, label = np.asarray(model.feature_importances_), "Importance"
    elif hasattr(model, "coef_"):
        coef = np.asarray(model.coef_)
        values, label = (np.abs(coef).mean(axis=0) if coef.ndim > 1 else np.abs(coef)), "|coefficient|"
    else:
        return []
    if len(values) != len(feature_names):  # one-hot encoded columns: names no longer line up
        feature_names = [f"x{i}" for i in range(len(values))]
    order = np.argsort(values)[::-1][:20][::-1]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, max(3, 0.3 * len(order) + 1)))
    ax.barh([feature_names[i] for i in order], values[order])
    ax.set(xlabel=label, title="Feature importance (top 20)")
    return [save_figure(fig, plots_dir / "feature_importance.png")]

