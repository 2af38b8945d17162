"""A WordPiece tokenizer built from the training texts with the `tokenizers` library.

`tokenizers`' own trainer breaks ties between equally frequent pieces in hash order, so
its vocabulary changes from process to process; this one is counted and sorted here
(by frequency, then alphabetically), so the same texts always give the same vocabulary.
It holds every character seen (alone and as a `##` continuation), so no word is ever
wholly unknown, and then the most frequent whole words up to `vocab_size`.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build_tokenizer(texts: list[str], *, vocab_size: int, max_length: int) -> PreTrainedTokenizerFast:
    """A `PreTrainedTokenizerFast` (saved and loaded with the transformers API)."""
    from plugins.text_classifier.hf import transformers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    vocab = list(SPECIAL) + chars + [f"##{c}" for c in chars]
    room = max(vocab_size - len(vocab), 0)
    frequent = sorted((w for w in words if len(w) > 1), key=lambda w: (-words[w], w))[:room]
    vocab += frequent
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                     continuing_subword_prefix="##"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))])
    tok.decoder = decoders.WordPiece(prefix="##")
    return transformers().PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=max_length)
