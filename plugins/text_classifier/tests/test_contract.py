"""The conventions checklist, run on `text_classifier` by `core.testing`."""

from core.testing import PluginContract
from plugins.text_classifier import TextClassifier


class TestContract(PluginContract):
    plugin_class = TextClassifier
