"""The network: Linear blocks with optional batch norm and dropout, then one output layer."""

from __future__ import annotations

from torch import nn

from plugins.torch_mlp.config import ModelConfig

ACTIVATION = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU,
              "silu": nn.SiLU}


def build_mlp(n_inputs: int, n_outputs: int, cfg: ModelConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_inputs
    for hidden in cfg.hidden:
        layers.append(nn.Linear(width, hidden))
        if cfg.batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(ACTIVATION[cfg.activation]())
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        width = hidden
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)
