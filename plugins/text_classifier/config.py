"""Parse and validate `RunSpec.data_spec` for `text_classifier`. Pure Python: no torch, no transformers.

    pipeline: train                   # or score
    data:  {source: synthetic | csv | jsonl, path, text_column: text, label_column: label,
            n_samples: 600, n_classes: 3, noise: 0.1}         # the last three: synthetic only
    split: {train: 0.7, val: 0.15, test: 0.15}
    model: {source: from_config, layers: 2, hidden: 64, heads: 2, intermediate: 256,
            vocab_size: 2000, max_length: 64, dropout: 0.1}
           # or {source: pretrained, path: /a/local/dir/saved/with/save_pretrained, max_length: 128}
    train: {epochs: 3, batch_size: 16, optimizer: adamw, lr: 0.001, weight_decay: 0.01, schedule, device}
    early_stopping: {metric: val_loss, patience: 2}
    score: {run_id: <a finished text_classifier run>}        # pipeline: score only; or
    score: {model_uri: runs:/<mlflow run id>/model | models:/NAME@ALIAS | models:/NAME/3}
    plots: true
    log_model: true                   # an MLflow Model (pyfunc, tokenizer and weights inside) at artifact path `model`
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core import ConfigField, SpecError
from plugins.common.fields import as_mapping, boolean, choice, existing_path, local_checks, number, only_fields
from plugins.common.mlflow_model import LOG_MODEL_HELP, MODEL_URI_FORMS, score_source
from plugins.common.split import parse_split
from plugins.common.torch_train.config import (
    EarlyStopping,
    TrainConfig,
    parse_early_stopping,
    parse_train,
    train_params,
    training_fields,
)

PIPELINES = ("train", "score")
SOURCES = ("synthetic", "csv", "jsonl")
MODEL_SOURCES = ("from_config", "pretrained")
VAL_METRICS = ("val_loss", "val_accuracy", "val_f1_macro")
SYNTHETIC = {"n_samples": 600, "n_classes": 3, "noise": 0.1}
ARCHITECTURE = ("layers", "hidden", "heads", "intermediate", "vocab_size", "dropout")
TRAIN_DEFAULTS = TrainConfig(epochs=3, batch_size=16, optimizer="adamw", lr=1e-3, weight_decay=0.01)
FIELDS = ("pipeline", "data", "split", "model", "train", "early_stopping", "score", "plots", "log_model", "purpose")


@dataclass(frozen=True)
class TextData:
    source: str
    path: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    n_samples: int = SYNTHETIC["n_samples"]
    n_classes: int = SYNTHETIC["n_classes"]
    noise: float = SYNTHETIC["noise"]

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"data.source": self.source}
        if self.source == "synthetic":
            out.update({f"data.{k}": getattr(self, k) for k in SYNTHETIC})
        else:
            out.update({"data.path": self.path, "data.text_column": self.text_column,
                        "data.label_column": self.label_column})
        return out


@dataclass(frozen=True)
class TextModel:
    source: str = "from_config"
    path: str | None = None  # pretrained
    layers: int = 2
    hidden: int = 64
    heads: int = 2
    intermediate: int = 256
    vocab_size: int = 2000
    dropout: float = 0.1
    max_length: int = 64


@dataclass(frozen=True)
class TextConfig:
    pipeline: str
    data: TextData
    split: Mapping[str, float]
    model: TextModel
    train: TrainConfig
    early_stopping: EarlyStopping
    score_run_id: str | None
    plots: bool
    score_model_uri: str | None = None
    log_model: bool = True

    def params(self) -> dict[str, Any]:
        model = asdict(self.model)
        if self.model.source == "pretrained":
            model = {k: v for k, v in model.items() if k not in ARCHITECTURE}
        else:
            model.pop("path")
        out = {**self.data.params(), "model.type": "bert" if self.model.source == "from_config" else "pretrained"}
        out.update({f"model.{k}": v for k, v in model.items()})
        out.update({f"split.{k}": v for k, v in self.split.items()})
        out.update(train_params(self.train, self.early_stopping))
        return out


def parse_config(data_spec: Mapping[str, Any]) -> TextConfig:
    only_fields(data_spec, FIELDS, "data_spec")
    pipeline = choice(data_spec, "pipeline", "train", "data_spec", PIPELINES)
    data = _data(as_mapping(data_spec.get("data", {"source": "synthetic"}), "data_spec.data"), pipeline)
    split = parse_split(as_mapping(data_spec.get("split", {}), "data_spec.split"))
    model = _model(as_mapping(data_spec.get("model", {}), "data_spec.model"))
    train = parse_train(as_mapping(data_spec.get("train", {}), "data_spec.train"), TRAIN_DEFAULTS)
    stopping = parse_early_stopping(as_mapping(data_spec.get("early_stopping", {}), "data_spec.early_stopping"),
                                    VAL_METRICS)
    score = as_mapping(data_spec.get("score", {}), "data_spec.score")
    score_id, score_uri = score_source(score, "data_spec.score", required=pipeline == "score",
                                       purpose="the id of a finished text_classifier training run")
    plots = boolean(data_spec, "plots", True, "data_spec")
    log_model = boolean(data_spec, "log_model", True, "data_spec")
    return TextConfig(pipeline, data, split, model, train, stopping, score_id, plots, score_uri, log_model)


def _data(cfg: Mapping[str, Any], pipeline: str) -> TextData:
    where = "data_spec.data"
    source = choice(cfg, "source", "synthetic", where, SOURCES)
    if source == "synthetic":
        only_fields(cfg, ("source", *SYNTHETIC), where)
        return TextData(
            source,
            n_samples=number(cfg, "n_samples", SYNTHETIC["n_samples"], where, integer=True, low=20, high=1_000_000),
            n_classes=number(cfg, "n_classes", SYNTHETIC["n_classes"], where, integer=True, low=2, high=4),
            noise=number(cfg, "noise", SYNTHETIC["noise"], where, low=0.0, high=0.9),
        )
    only_fields(cfg, ("source", "path", "text_column", "label_column"), where)
    path = cfg.get("path")
    if not isinstance(path, str) or not path:
        raise SpecError(f"is required for source: {source} (a path to a .{source} file)", field=f"{where}.path")
    columns = {}
    for key, default in (("text_column", "text"), ("label_column", "label")):
        value = cfg.get(key, default)
        if not isinstance(value, str) or not value:
            raise SpecError(f"must be a column name, got {value!r}", field=f"{where}.{key}")
        columns[key] = value
    existing_path(path, f"{where}.path")
    return TextData(source, path=path, **columns)


def _model(cfg: Mapping[str, Any]) -> TextModel:
    where = "data_spec.model"
    source = choice(cfg, "source", "from_config", where, MODEL_SOURCES)
    d = TextModel()
    max_length = number(cfg, "max_length", d.max_length, where, integer=True, low=8, high=4096)
    if source == "pretrained":
        only_fields(cfg, ("source", "path", "max_length"), where)
        path = cfg.get("path")
        if not isinstance(path, str) or not path:
            raise SpecError("is required for source: pretrained (a local directory saved with save_pretrained)",
                            field=f"{where}.path")
        if local_checks() and not Path(path).is_dir():
            raise SpecError(f"'{path}' is not a local directory: models are never downloaded; give the folder a "
                            "model and tokenizer were saved to with save_pretrained", field=f"{where}.path")
        return TextModel(source, path=path, max_length=max_length)
    only_fields(cfg, ("source", *ARCHITECTURE, "max_length"), where)
    hidden = number(cfg, "hidden", d.hidden, where, integer=True, low=8, high=4096)
    heads = number(cfg, "heads", d.heads, where, integer=True, low=1, high=64)
    if hidden % heads:
        raise SpecError(f"hidden ({hidden}) must be a multiple of heads ({heads})", field=f"{where}.heads")
    return TextModel(
        source, layers=number(cfg, "layers", d.layers, where, integer=True, low=1, high=48), hidden=hidden,
        heads=heads, intermediate=number(cfg, "intermediate", 4 * hidden, where, integer=True, low=1, high=65536),
        vocab_size=number(cfg, "vocab_size", d.vocab_size, where, integer=True, low=100, high=500_000),
        dropout=number(cfg, "dropout", d.dropout, where, low=0.0, high=0.9), max_length=max_length,
    )


CONFIG_FIELDS = (
    ConfigField("pipeline", "str", "train", PIPELINES, "train, or score texts with a finished run's model"),
    ConfigField("data.source", "str", "synthetic", SOURCES),
    ConfigField("data.path", "str", None, help="a CSV with a header, or JSON Lines", when="data.source: csv | jsonl"),
    ConfigField("data.text_column", "str", "text", when="data.source: csv | jsonl"),
    ConfigField("data.label_column", "str", "label", when="data.source: csv | jsonl"),
    ConfigField("data.n_samples", "int", SYNTHETIC["n_samples"], ">= 20", when="data.source: synthetic"),
    ConfigField("data.n_classes", "int", SYNTHETIC["n_classes"], "2..4", when="data.source: synthetic"),
    ConfigField("data.noise", "float", SYNTHETIC["noise"], "[0, 0.9]", "share of words from another topic",
                when="data.source: synthetic"),
    ConfigField("split.train/val/test", "float", "0.7/0.15/0.15", "(0, 1), summing to 1"),
    ConfigField("model.source", "str", "from_config", MODEL_SOURCES, "a small BERT from its config, or a local model"),
    ConfigField("model.path", "str", None, help="a local folder written by save_pretrained; never downloaded",
                when="model.source: pretrained"),
    ConfigField("model.layers", "int", TextModel.layers, "1..48", when="model.source: from_config"),
    ConfigField("model.hidden", "int", TextModel.hidden, "8..4096, a multiple of heads", when="model.source: from_config"),
    ConfigField("model.heads", "int", TextModel.heads, "1..64", when="model.source: from_config"),
    ConfigField("model.intermediate", "int", "4 x hidden", ">= 1", when="model.source: from_config"),
    ConfigField("model.vocab_size", "int", TextModel.vocab_size, "100..500000", when="model.source: from_config"),
    ConfigField("model.dropout", "float", TextModel.dropout, "[0, 0.9]", when="model.source: from_config"),
    ConfigField("model.max_length", "int", TextModel.max_length, "8..4096", "tokens per text"),
    *training_fields(TRAIN_DEFAULTS, VAL_METRICS),
    ConfigField("score.run_id", "str", None, help="a finished text_classifier run", when="pipeline: score"),
    ConfigField("score.model_uri", "str", None, MODEL_URI_FORMS, "an MLflow Model, instead of score.run_id",
                when="pipeline: score"),
    ConfigField("plots", "bool", True, help="loss curves, val metrics, confusion matrix"),
    ConfigField("log_model", "bool", True, help=LOG_MODEL_HELP, when="pipeline: train"),
)
