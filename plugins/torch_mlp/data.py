"""Tabular data as tensors: the sklearn family's loaders and split, then an `Encoder` fitted on
the train split (standardised numeric columns, one-hot categorical ones, label indices or a
standardised regression target) that travels inside every checkpoint, so scoring encodes the
same way training did."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from core import SpecError
from plugins.common.tabular.data import Dataset, Split


@dataclass
class Encoder:
    task: str
    features: list[str]
    numeric_mean: dict[str, float] = field(default_factory=dict)
    numeric_std: dict[str, float] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    classes: list[str] | None = None  # the label values, in output-unit order
    label_names: list[str] | None = None  # what people call them (iris: setosa, ...)
    target: str | None = None
    y_mean: float = 0.0
    y_std: float = 1.0

    @classmethod
    def fit(cls, data: Dataset, parts: Split, task: str) -> Encoder:
        enc = cls(task=task, features=list(data.feature_names), target=data.target_name)
        for i, name in enumerate(data.feature_names):
            column = parts.X_train[:, i]
            if i in data.categorical:
                enc.categories[name] = sorted({str(v) for v in column})
            else:
                values = column.astype(float)
                mean = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
                std = float(np.nanstd(values)) if np.isfinite(values).any() else 1.0
                enc.numeric_mean[name], enc.numeric_std[name] = mean, std if std > 0 else 1.0
        if task == "classification":
            # Labels from every split, so a class rare enough to miss the train split still has a unit.
            values = np.unique(np.asarray(data.y))
            enc.classes = [str(v) for v in values]
            names = data.class_names
            enc.label_names = ([names[int(v)] for v in values] if names and _all_int(values)
                               else list(enc.classes))
        else:
            y = np.asarray(parts.y_train, dtype=float)
            enc.y_mean, enc.y_std = float(y.mean()), float(y.std()) or 1.0
        return enc

    @property
    def n_inputs(self) -> int:
        return len(self.numeric_mean) + sum(len(c) for c in self.categories.values())

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "classification" else 1

    def encode_X(self, X: np.ndarray, feature_names: list[str]) -> torch.Tensor:
        """Columns by name, in training order; a missing column is a clear error."""
        missing = [f for f in self.features if f not in feature_names]
        if missing:
            raise SpecError(f"the data lacks columns the model was trained on: {', '.join(missing)}",
                            field="data_spec.data", allowed=self.features)
        blocks = []
        for name in self.features:
            column = X[:, feature_names.index(name)]
            if name in self.categories:
                cats = self.categories[name]
                text = np.array([str(v) for v in column])
                blocks.append(np.stack([text == c for c in cats], axis=1).astype(np.float32))
            else:
                values = (column.astype(float) - self.numeric_mean[name]) / self.numeric_std[name]
                blocks.append(np.nan_to_num(values, nan=0.0).astype(np.float32)[:, None])  # NaN -> train mean
        return torch.from_numpy(np.concatenate(blocks, axis=1))

    def encode_y(self, y: np.ndarray) -> torch.Tensor:
        if self.task == "classification":
            index = {c: i for i, c in enumerate(self.classes)}
            return torch.tensor([index.get(str(v), -1) for v in np.asarray(y)], dtype=torch.long)
        return torch.from_numpy(((np.asarray(y, dtype=float) - self.y_mean) / self.y_std).astype(np.float32))

    def decode_regression(self, outputs: torch.Tensor) -> np.ndarray:
        return outputs.reshape(-1).double().numpy() * self.y_std + self.y_mean

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> Encoder:
        return cls(**state)


@dataclass
class TensorSplit:
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    def rows(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def to_tensors(parts: Split, enc: Encoder, feature_names: list[str]) -> TensorSplit:
    out = {}
    for name in ("train", "val", "test"):
        out[f"X_{name}"] = enc.encode_X(getattr(parts, f"X_{name}"), feature_names)
        out[f"y_{name}"] = enc.encode_y(getattr(parts, f"y_{name}"))
    return TensorSplit(**out)


def _all_int(values: np.ndarray) -> bool:
    return np.issubdtype(values.dtype, np.integer)
