from plugins.sklearn_classifier.plugin import SklearnClassifier

__all__ = ["SklearnClassifier"]
