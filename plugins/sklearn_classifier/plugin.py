"""`sklearn_classifier`: scikit-learn classification on synthetic, bundled or CSV data; train and score."""

from core import PluginInfo
from plugins.sklearn_common.config import config_fields
from plugins.sklearn_common.plugin_base import EXTRA, REQUIRES, SklearnPlugin


class SklearnClassifier(SklearnPlugin):
    task = "classification"
    info = PluginInfo(
        key="sklearn_classifier",
        description="scikit-learn classification: train (metrics, plots, model) or score a trained run",
        extra=EXTRA,
        requires=REQUIRES,
        seeds=("random", "numpy"),
    )
    config_fields = config_fields("classification")
