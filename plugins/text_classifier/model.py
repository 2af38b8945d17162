"""The network: a small BERT built from the config (random initialisation), or a model and
tokenizer loaded from a local directory. Labels travel in the model's config (`id2label`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import SpecError
from plugins.text_classifier.config import TextModel
from plugins.text_classifier.hf import transformers

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def from_config(cfg: TextModel, *, vocab_size: int, pad_token_id: int, labels: list[str]) -> PreTrainedModel:
    tf = transformers()
    config = tf.BertConfig(
        vocab_size=vocab_size, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate, hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=cfg.max_length, pad_token_id=pad_token_id, **_label_maps(labels))
    return tf.BertForSequenceClassification(config)


def load_pretrained(path: str, *, labels: list[str] | None,
                    field: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and model from `path`; with `labels`, the classification head is sized to them
    (a head trained for other labels is replaced and trained afresh)."""
    tf = transformers()
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise SpecError(f"'{path}' holds no config.json: not a folder written by save_pretrained", field=field)
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        kwargs = {"ignore_mismatched_sizes": True, **_label_maps(labels)} if labels else {}
        model = tf.AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SpecError(f"cannot load a sequence classifier from '{path}': {reason}", field=field) from None
    return tokenizer, model


def _label_maps(labels: list[str]) -> dict[str, Any]:
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)}}
