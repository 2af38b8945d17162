"""The conventions checklist, run on `sklearn_classifier` by `core.testing`."""

from core.testing import PluginContract
from plugins.sklearn_classifier import SklearnClassifier


class TestContract(PluginContract):
    plugin_class = SklearnClassifier
