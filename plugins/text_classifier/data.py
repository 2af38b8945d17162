"""Labelled texts: from a CSV or JSON Lines file, or generated from templates for smoke runs;
then a stratified train/val/test split, deterministic under `seed`."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import SpecError
from plugins.text_classifier.config import TextData

# Synthetic topics: each class has its own words; `noise` swaps some for another class's.
TOPICS = {
    "sports": ["match", "goal", "team", "coach", "league", "season", "striker", "referee", "stadium", "score"],
    "weather": ["rain", "storm", "sunny", "forecast", "cloud", "wind", "snow", "humid", "thunder", "cold"],
    "food": ["recipe", "dinner", "spicy", "bread", "cheese", "soup", "bake", "flavour", "kitchen", "dessert"],
    "tech": ["laptop", "software", "update", "battery", "screen", "network", "chip", "app", "server", "code"],
}
TEMPLATES = [
    "i think the {a} was really {b} today",
    "everyone talked about the {a} and the {b}",
    "yesterday the {a} seemed {b} to me",
    "my friend said the {a} is more {b} than the {c}",
    "news about the {a} the {b} and the {c}",
    "what a {a} with such a {b}",
]


@dataclass
class Texts:
    texts: list[str]
    labels: list[str] | None


@dataclass
class TextSplit:
    train: Texts
    val: Texts
    test: Texts


def load(cfg: TextData, *, seed: int | None, require_labels: bool = True) -> Texts:
    if cfg.source == "synthetic":
        return synthetic(cfg.n_samples, cfg.n_classes, cfg.noise, seed)
    path = Path(cfg.path)
    if not path.is_file():
        raise SpecError("file not found" if not path.exists() else "not a file", source=str(path),
                        field="data_spec.data.path")
    rows = _read_csv(path) if cfg.source == "csv" else _read_jsonl(path)
    if not rows:
        raise SpecError("has no rows", source=str(path), field="data_spec.data.path")
    columns = list(rows[0])
    if cfg.text_column not in columns:
        raise SpecError(f"column {cfg.text_column!r} is not in {path}", field="data_spec.data.text_column",
                        allowed=columns)
    has_labels = cfg.label_column in columns
    if require_labels and not has_labels:
        raise SpecError(f"column {cfg.label_column!r} is not in {path}", field="data_spec.data.label_column",
                        allowed=columns)
    texts = ["" if r.get(cfg.text_column) is None else str(r[cfg.text_column]) for r in rows]
    labels = [str(r.get(cfg.label_column, "")) for r in rows] if has_labels else None
    return Texts(texts, labels)


def synthetic(n_samples: int, n_classes: int, noise: float, seed: int | None) -> Texts:
    rng = random.Random(seed)
    names = list(TOPICS)[:n_classes]
    texts, labels = [], []
    for i in range(n_samples):
        label = names[i % n_classes]
        words = []
        for _ in range(3):
            topic = rng.choice(names) if rng.random() < noise else label
            words.append(rng.choice(TOPICS[topic]))
        texts.append(rng.choice(TEMPLATES).format(a=words[0], b=words[1], c=words[2]))
        labels.append(label)
    order = list(range(n_samples))
    rng.shuffle(order)
    return Texts([texts[i] for i in order], [labels[i] for i in order])


def split(data: Texts, ratios: Mapping[str, float], *, seed: int | None) -> TextSplit:
    """Test first, then val from the rest; stratified when every class has at least two texts."""
    from sklearn.model_selection import train_test_split

    index = list(range(len(data.texts)))
    counts = {label: data.labels.count(label) for label in set(data.labels)}
    stratify = data.labels if min(counts.values()) >= 2 else None
    rest, test = train_test_split(index, test_size=ratios["test"], random_state=seed, stratify=stratify)
    rest_labels = [data.labels[i] for i in rest] if stratify else None
    if rest_labels and min(rest_labels.count(label) for label in set(rest_labels)) < 2:
        rest_labels = None
    train, val = train_test_split(rest, test_size=ratios["val"] / (ratios["train"] + ratios["val"]),
                                  random_state=seed, stratify=rest_labels)

    def take(ids: list[int]) -> Texts:
        return Texts([data.texts[i] for i in ids], [data.labels[i] for i in ids])

    return TextSplit(take(train), take(val), take(test))


def summary(data: Texts, parts: TextSplit) -> dict[str, Any]:
    lengths = sorted(len(t.split()) for t in data.texts)
    return {
        "n_rows": len(data.texts),
        "rows": {"train": len(parts.train.texts), "val": len(parts.val.texts), "test": len(parts.test.texts)},
        "class_counts": {label: data.labels.count(label) for label in sorted(set(data.labels))},
        "words_per_text": {"min": lengths[0], "median": lengths[len(lengths) // 2], "max": lengths[-1]},
    }


def _read_csv(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(f"not a readable UTF-8 CSV: {exc}", source=str(path), field="data_spec.data.path") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text: {exc.reason}", source=str(path), field="data_spec.data.path") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(f"line {number} is not JSON: {exc.msg}", source=str(path),
                            field="data_spec.data.path") from None
        if not isinstance(row, dict):
            raise SpecError(f"line {number} is not a JSON object", source=str(path), field="data_spec.data.path")
        rows.append(row)
    return rows
