"""Tabular data for the sklearn and torch families: `config` (the `data_spec.data` sources, pure
Python) and `data` (loading, CSV reading, the seeded train/val/test split; numpy and scikit-learn)."""
