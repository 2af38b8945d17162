"""`text_classifier`: transformers sequence classification, fully offline."""

from plugins.text_classifier.plugin import TextClassifier

__all__ = ["TextClassifier"]
