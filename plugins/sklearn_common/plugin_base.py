"""The sklearn family's `Plugin`: `run()` is the glue; the work lives in the helpers.

Only `core` and `config` are imported here, so listing plugins loads no numpy
or scikit-learn; `run()` imports the helpers that do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from core import Plugin, RunContext, RunInput, RunResult, RunSpec, package_versions
from plugins.common.files import log_standard_folders, tag_purpose
from plugins.common.mlflow_model import score_inputs
from plugins.sklearn_common.config import SklearnConfig, parse_config

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from plugins.common.tabular.data import Dataset

EXTRA = "sklearn"
REQUIRES = ("numpy", "sklearn", "joblib", "matplotlib", "pandas")


class SklearnPlugin(Plugin):
    task: ClassVar[str]

    def validate(self, spec: RunSpec) -> None:
        cfg = parse_config(spec.data_spec, task=self.task)
        if cfg.pipeline == "train":
            from plugins.sklearn_common.train import check_params

            check_params(self.task, cfg.model)

    def inputs(self, spec: RunSpec) -> tuple[RunInput, ...]:
        from plugins.sklearn_common.artifacts import MODEL

        cfg = parse_config(spec.data_spec, task=self.task)
        if cfg.pipeline != "score":
            return ()
        return score_inputs(cfg.score_run_id, cfg.score_model_uri, model_file=MODEL)

    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        cfg = parse_config(spec.data_spec, task=self.task)
        tag_purpose(context, spec, synthetic=cfg.data.source == "synthetic")
        if cfg.pipeline == "score":
            return self._score(cfg, spec, context)
        from plugins.common.tabular import data
        from plugins.sklearn_common import artifacts, eval, train

        dataset = data.load(cfg.data, task=self.task, seed=spec.seed)
        parts = data.split(dataset, cfg.split, task=self.task, seed=spec.seed)
        pipeline = train.build(self.task, cfg.model, seed=spec.seed, categorical=dataset.categorical,
                               n_features=dataset.X.shape[1])
        context.tracking.log_params(_params(cfg, spec, dataset, train.hyperparameters(pipeline)))
        context.logger.info("training %s on %d rows", cfg.model.type, len(parts.y_train))
        train.fit(pipeline, parts.X_train, parts.y_train)

        measure = eval.measure_for(self.task)
        metrics = {}
        for split_name in ("train", "val", "test"):
            X, y = getattr(parts, f"X_{split_name}"), getattr(parts, f"y_{split_name}")
            metrics.update(measure(pipeline, X, y, split_name))
        context.tracking.log_metrics(metrics)

        run_dir = context.artifact_dir
        plots = []
        if cfg.plots:
            if self.task == "classification":
                plots = eval.plot_classification(pipeline, parts.X_test, parts.y_test, dataset.feature_names,
                                                 run_dir / artifacts.PLOTS, class_names=dataset.class_names)
            else:
                plots = eval.plot_regression(pipeline, parts.X_test, parts.y_test, dataset.feature_names,
                                             run_dir / artifacts.PLOTS)
        artifacts.save_model(run_dir, pipeline)
        if cfg.log_model:
            from plugins.sklearn_common import mlflow_model

            mlflow_model.log(context, pipeline, parts.X_train, dataset, plugin=self.info.key, task=self.task)
        artifacts.write_json(run_dir, artifacts.MODEL_META, _model_meta(cfg, dataset, pipeline))
        artifacts.write_json(run_dir, artifacts.METRICS, metrics)
        artifacts.write_json(run_dir, artifacts.DATA_SUMMARY, data.summary(dataset, parts, task=self.task))
        artifacts.write_report(run_dir, title=f"{self.info.key}: {cfg.model.type}", metrics=metrics,
                               plots=plots, notes={"run": context.run_id, "data": cfg.data.source,
                                                   "rows (train/val/test)": f"{len(parts.y_train)}/"
                                                   f"{len(parts.y_val)}/{len(parts.y_test)}"})
        log_standard_folders(context)
        headline = [k for k in metrics if k.startswith("test_")]
        return RunResult(outputs={k: metrics[k] for k in headline[:3]} | {"model": cfg.model.type})

    def _score(self, cfg: SklearnConfig, spec: RunSpec, context: RunContext) -> RunResult:
        from plugins.common.tabular import data
        from plugins.sklearn_common import artifacts, eval, score

        model = score.load(context, run_id=cfg.score_run_id, model_uri=cfg.score_model_uri, task=self.task)
        context.tracking.set_tags({**model.tags, "pipeline": "score"})
        pipeline = model.pipeline
        dataset = data.load(cfg.data, task=self.task, seed=spec.seed, require_target=False)
        X = model.inputs(dataset)
        context.tracking.log_params({"data.source": cfg.data.source, "data.n_rows": len(X), **model.params})
        path = score.write_predictions(context.artifact_dir, pipeline, X, dataset.y, self.task)
        context.tracking.log_artifact(path, artifact_path="data")
        outputs = {"predictions": str(path), "rows": len(X)}
        if dataset.y is not None:
            measure = eval.measure_for(self.task)
            metrics = measure(pipeline, X, dataset.y, "score")
            context.tracking.log_metrics(metrics)
            artifacts.write_json(context.artifact_dir, artifacts.METRICS, metrics)
            context.tracking.log_artifact(context.artifact_dir / artifacts.METRICS, artifact_path="metrics")
            outputs.update(metrics)
        return RunResult(outputs=outputs)


def _params(cfg: SklearnConfig, spec: RunSpec, dataset: Dataset, hyper: dict[str, Any]) -> dict[str, Any]:
    params = {"data.source": cfg.data.source, "data.n_rows": dataset.X.shape[0],
              "data.n_features": dataset.X.shape[1], "model.type": cfg.model.type,
              "model.scale": cfg.model.scale}
    if cfg.data.name:
        params["data.name"] = cfg.data.name
    if cfg.data.path:
        params["data.path"] = cfg.data.path
    params.update({f"data.{k}": v for k, v in cfg.data.synthetic.items()})
    params.update({f"split.{k}": v for k, v in cfg.split.items()})
    params.update({f"model.{k}": v for k, v in hyper.items()})
    if spec.seed is not None:
        params["seed"] = spec.seed
    return params


def _model_meta(cfg: SklearnConfig, dataset: Dataset, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "task": cfg.task,
        "model_type": cfg.model.type,
        "features": dataset.feature_names,
        "categorical": [dataset.feature_names[i] for i in dataset.categorical],
        "target": dataset.target_name,
        "classes": [str(c) for c in getattr(pipeline, "classes_", [])] or None,
        "class_names": dataset.class_names,
        "versions": package_versions(["scikit-learn", "numpy", "joblib"]),
    }
