"""What every plugin family may share, importing only `core` and each other.

`fields`, `files`, `split` and `tabular.config` are pure Python. `plotting` imports matplotlib
on first use; `tabular.data` (numpy, scikit-learn) and `torch_train` (torch) import their
libraries at module level, so import them from `run()` or its helpers, never from a plugin
module's top level. Nothing is imported here: this package is imported when plugins are listed.
"""
