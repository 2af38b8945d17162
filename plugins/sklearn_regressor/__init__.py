from plugins.sklearn_regressor.plugin import SklearnRegressor

__all__ = ["SklearnRegressor"]
