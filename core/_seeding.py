"""Seed every RNG a plugin family uses, from `RunSpec.seed`."""

from __future__ import annotations

import importlib
import random


def seed_everything(seed: int, libraries: tuple[str, ...] = ("random",)) -> list[str]:
    """Seed `random` and each named library that is installed; returns what was seeded.

    Libraries are named by the plugin (`PluginInfo.seeds`), so core imports
    numpy or torch only for a run whose plugin is about to use them anyway.
    """
    seeded = []
    for name in dict.fromkeys(("random", *libraries)):
        if name == "random":
            random.seed(seed)
        elif name == "numpy":
            try:
                np = importlib.import_module("numpy")
            except ImportError:
                continue
            np.random.seed(seed)
        elif name == "torch":
            try:
                torch = importlib.import_module("torch")
            except ImportError:
                continue
            torch.manual_seed(seed)  # also seeds every CUDA device
        else:
            continue
        seeded.append(name)
    return seeded
