"""The tabular data sources shared by the sklearn and torch families: which data, and how it
is described in `data_spec.data`. Pure Python: no numpy, no scikit-learn (`data` loads it).

    data: {source: synthetic, n_samples: 1000, ...}       # make_classification / make_regression knobs
    data: {source: builtin, name: iris}                    # a data set bundled with scikit-learn
    data: {source: csv, path: rows.csv, target: label, features: [a, b]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import SpecError
from plugins.common.fields import existing_path, only_fields

SOURCES = ("synthetic", "builtin", "csv")
BUILTIN = {
    "classification": ("iris", "wine", "breast_cancer", "digits"),
    "regression": ("diabetes",),
}
SYNTHETIC_KEYS = {
    "classification": {"n_samples": 1000, "n_features": 20, "n_informative": 5, "n_redundant": 2,
                       "n_classes": 2, "class_sep": 1.0, "flip_y": 0.01},
    "regression": {"n_samples": 1000, "n_features": 20, "n_informative": 10, "noise": 0.1},
}


@dataclass(frozen=True)
class DataConfig:
    source: str
    name: str | None = None  # builtin
    path: str | None = None  # csv
    target: str | None = None  # csv
    features: tuple[str, ...] | None = None  # csv
    synthetic: Mapping[str, Any] = field(default_factory=dict)


def parse_data(cfg: Mapping[str, Any], task: str) -> DataConfig:
    source = cfg.get("source", "synthetic")
    if source not in SOURCES:
        raise SpecError(f"unknown source {source!r}", field="data_spec.data.source", allowed=SOURCES, got=source)
    if source == "synthetic":
        defaults = SYNTHETIC_KEYS[task]
        only_fields(cfg, ("source", *defaults), "data_spec.data")
        knobs = {**defaults, **{k: v for k, v in cfg.items() if k != "source"}}
        for key, value in knobs.items():
            kind = float if isinstance(defaults[key], float) else int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
                raise SpecError(f"must be {'a number' if kind is float else 'an integer'}, got {value!r}",
                                field=f"data_spec.data.{key}")
            if value < 0:
                raise SpecError(f"must not be negative, got {value!r}", field=f"data_spec.data.{key}")
        if knobs["n_samples"] < 20:
            raise SpecError("must be at least 20", field="data_spec.data.n_samples")
        return DataConfig(source, synthetic=knobs)
    if source == "builtin":
        only_fields(cfg, ("source", "name"), "data_spec.data")
        name = cfg.get("name")
        if name not in BUILTIN[task]:
            raise SpecError(f"unknown builtin dataset {name!r}", field="data_spec.data.name", allowed=BUILTIN[task],
                            got=name)
        return DataConfig(source, name=name)
    only_fields(cfg, ("source", "path", "target", "features"), "data_spec.data")
    path = cfg.get("path")
    if not isinstance(path, str) or not path:
        raise SpecError("is required for source: csv (a path to a CSV file)", field="data_spec.data.path")
    existing_path(path, "data_spec.data.path")
    target = cfg.get("target")
    if target is not None and not isinstance(target, str):
        raise SpecError("must be a column name", field="data_spec.data.target")
    features = cfg.get("features")
    if features is not None and not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
        raise SpecError("must be a list of column names", field="data_spec.data.features")
    return DataConfig(source, path=path, target=target, features=tuple(features) if features else None)
