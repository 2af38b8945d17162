"""`torch_mlp`: a PyTorch MLP for tabular classification and regression."""

from plugins.torch_mlp.plugin import TorchMlp

__all__ = ["TorchMlp"]
