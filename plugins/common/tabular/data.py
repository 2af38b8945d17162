"""Build a tabular data set (synthetic, scikit-learn's bundled sets, or a CSV) and split it:
shared by the sklearn and torch families."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

from core import SpecError
from plugins.common.tabular.config import DataConfig

_LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
    "diabetes": datasets.load_diabetes,
}


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    categorical: list[int]  # column indices holding strings
    target_name: str | None
    class_names: list[str] | None = None


@dataclass
class Split:
    X_train: np.ndarray
    X_val: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray


def load(cfg: DataConfig, *, task: str, seed: int | None, require_target: bool = True) -> Dataset:
    if cfg.source == "synthetic":
        knobs = dict(cfg.synthetic)
        if task == "classification":
            X, y = datasets.make_classification(random_state=seed, **knobs)
        else:
            X, y = datasets.make_regression(random_state=seed, **knobs)
        return Dataset(X, y, [f"f{i}" for i in range(X.shape[1])], [], "target")
    if cfg.source == "builtin":
        bunch = _LOADERS[cfg.name]()
        names = [str(n) for n in getattr(bunch, "feature_names", [])] or [f"f{i}" for i in range(bunch.data.shape[1])]
        classes = [str(c) for c in bunch.target_names] if hasattr(bunch, "target_names") else None
        return Dataset(bunch.data, bunch.target, names, [], "target", classes)
    return read_csv(Path(cfg.path), target=cfg.target, features=cfg.features, task=task, require_target=require_target)


def read_csv(path: Path, *, target: str | None, features: Sequence[str] | None, task: str,
             require_target: bool) -> Dataset:
    """Read a CSV with the standard library; numeric columns become floats, the rest categorical."""
    if not path.is_file():
        raise SpecError("file not found" if not path.exists() else "not a file",
                        source=str(path), field="data_spec.data.path")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        rows = [r for r in reader if r]
    if not header or not rows:
        raise SpecError("CSV has no header or no rows", source=str(path), field="data_spec.data.path")
    if target is None and require_target:
        raise SpecError("is required to train (the label column)", field="data_spec.data.target", allowed=header)
    has_target = target is not None and target in header
    if require_target and not has_target:
        raise SpecError(f"column {target!r} is not in {path}", field="data_spec.data.target", allowed=header)
    names = list(features) if features else [c for c in header if c != target]
    missing = [c for c in names if c not in header]
    if missing:
        raise SpecError(f"columns not in {path}: {', '.join(missing)}", field="data_spec.data.features", allowed=header)
    cols = {c: [row[header.index(c)] if header.index(c) < len(row) else "" for row in rows] for c in header}
    columns, categorical = [], []
    for i, name in enumerate(names):
        numeric = _as_float(cols[name])
        if numeric is None:
            categorical.append(i)
            columns.append(np.array(cols[name], dtype=object))
        else:
            columns.append(numeric)
    X = np.column_stack(columns).astype(object if categorical else float)
    y = None
    if has_target:
        raw = cols[target]
        if task == "regression":
            y = _as_float(raw)
            if y is None:
                raise SpecError(f"column {target!r} must be numeric for regression", field="data_spec.data.target")
        else:
            numeric = _as_float(raw)
            y = numeric.astype(int) if numeric is not None and np.all(numeric == np.round(numeric)) else np.array(raw)
    return Dataset(X, y, names, categorical, target if has_target else None)


def _as_float(values: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(v) if v.strip() != "" else np.nan for v in values], dtype=float)
    except ValueError:
        return None


def split(data: Dataset, ratios: Mapping[str, float], *, task: str, seed: int | None) -> Split:
    """Test first, then val from the rest; stratified for classification, deterministic under `seed`."""
    stratify = data.y if task == "classification" else None
    X_rest, X_test, y_rest, y_test = train_test_split(
        data.X, data.y, test_size=ratios["test"], random_state=seed, stratify=stratify
    )
    val_share = ratios["val"] / (ratios["train"] + ratios["val"])
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val_share, random_state=seed,
        stratify=y_rest if task == "classification" else None,
    )
    return Split(X_train, X_val, X_test, y_train, y_val, y_test)


def summary(data: Dataset, parts: Split, *, task: str) -> dict[str, Any]:
    info = {
        "n_rows": int(data.X.shape[0]),
        "n_features": int(data.X.shape[1]),
        "features": data.feature_names,
        "categorical": [data.feature_names[i] for i in data.categorical],
        "rows": {"train": len(parts.y_train), "val": len(parts.y_val), "test": len(parts.y_test)},
    }
    if task == "classification":
        labels, counts = np.unique(data.y, return_counts=True)
        info["class_counts"] = {str(k): int(v) for k, v in zip(labels, counts)}
    return info
