"""Training-loop pieces shared by the torch and nlp families: the `train` and `early_stopping`
config (`config`, pure Python), device choice, optimizers and schedules, best-epoch tracking,
classification metrics from logits, and the loss-curve and confusion plots. Every module but
`config` imports torch, so import them from `run()`, never from a plugin module's top level."""
