"""The conventions checklist, run on `sklearn_regressor` by `core.testing`."""

from core.testing import PluginContract
from plugins.sklearn_regressor import SklearnRegressor


class TestContract(PluginContract):
    plugin_class = SklearnRegressor
