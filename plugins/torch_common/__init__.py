"""Training-loop helpers shared by the torch and nlp families: device choice, optimizers and
schedules, best-epoch tracking, atomic checkpoints, and the loss-curve and confusion plots.
`config` is pure Python; the other modules import torch, so import them from `run()`,
never from a plugin module's top level."""
