"""What the sklearn classifier and regressor share: config, training, evaluation, artifacts
and scoring (the tabular data sources, loading and split are `plugins.common.tabular`). Only
`config` and `plugin_base` are imported before a run; everything that imports numpy or
scikit-learn is imported inside `run()`."""
