"""`sklearn_regressor`: scikit-learn regression on synthetic, bundled or CSV data; train and score."""

from core import PluginInfo
from plugins.sklearn_common.config import config_fields
from plugins.sklearn_common.plugin_base import EXTRA, REQUIRES, SklearnPlugin


class SklearnRegressor(SklearnPlugin):
    task = "regression"
    info = PluginInfo(
        key="sklearn_regressor",
        description="scikit-learn regression: train (metrics, plots, model) or score a trained run",
        extra=EXTRA,
        requires=REQUIRES,
        seeds=("random", "numpy"),
    )
    config_fields = config_fields("regression")
