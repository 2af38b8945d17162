"""The conventions checklist, run on `torch_mlp` by `core.testing`."""

from core.testing import PluginContract
from plugins.torch_mlp import TorchMlp


class TestContract(PluginContract):
    plugin_class = TorchMlp
