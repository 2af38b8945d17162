"""What the sklearn classifier and regressor share: config, data, training, evaluation,
artifacts and scoring. Only `config` and `plugin_base` are imported before a run;
everything that imports numpy or scikit-learn is imported inside `run()`."""
