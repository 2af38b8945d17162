"""`torch_mlp`: a PyTorch MLP on tabular data (classification or regression); train, resume and score.

`run()` is the glue; the loop lives in `train.py`. Only `core` and `config` are
imported at module level, so listing plugins loads no torch.
"""

from __future__ import annotations

from core import Plugin, PluginInfo, RunContext, RunInput, RunResult, RunSpec
from plugins.common.files import tag_purpose
from plugins.common.mlflow_model import score_inputs
from plugins.torch_mlp.config import CONFIG_FIELDS, MlpConfig, parse_config


class TorchMlp(Plugin):
    info = PluginInfo(
        key="torch_mlp",
        description="PyTorch MLP on tabular data: per-epoch tracking, early stopping, checkpoints, resume, score",
        extra="torch",
        requires=("torch", "numpy", "sklearn", "matplotlib", "pandas"),
        seeds=("random", "numpy", "torch"),
    )
    config_fields = CONFIG_FIELDS

    def validate(self, spec: RunSpec) -> None:
        cfg = parse_config(spec.data_spec)
        if cfg.pipeline == "train" and (cfg.train.device not in ("auto", "cpu") or cfg.train.precision != "fp32"):
            from plugins.common.torch_train.accel import check_device_and_precision

            check_device_and_precision(cfg.train.device, cfg.train.precision)

    def inputs(self, spec: RunSpec) -> tuple[RunInput, ...]:
        from plugins.torch_mlp.artifacts import BEST

        cfg = parse_config(spec.data_spec)
        if cfg.pipeline != "score":
            return ()
        return score_inputs(cfg.score_run_id, cfg.score_model_uri, model_file=BEST)

    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        cfg = parse_config(spec.data_spec)
        tag_purpose(context, spec, synthetic=cfg.data.source == "synthetic")
        if cfg.pipeline == "score":
            return self._score(cfg, spec, context)
        from core import ProgressBar
        from plugins.common.files import earlier_run_file
        from plugins.common.tabular import data as tabular
        from plugins.common.torch_train.device import describe_device, resolve_device
        from plugins.torch_common.checkpoint import load_checkpoint
        from plugins.torch_mlp import artifacts, data, report
        from plugins.torch_mlp.train import Training, carry_best

        dataset = tabular.load(cfg.data, task=cfg.task, seed=spec.seed)
        parts = tabular.split(dataset, cfg.split, task=cfg.task, seed=spec.seed)
        device = resolve_device(cfg.train.device)
        run_dir = context.artifact_dir
        resumed = None
        if cfg.resume_run_id:
            source = earlier_run_file(context, cfg.resume_run_id, artifacts.LAST, field="data_spec.resume.run_id")
            resumed = load_checkpoint(source)
            enc = data.Encoder.from_dict(resumed["encoder"])  # encode exactly as the run being continued did
        else:
            enc = data.Encoder.fit(dataset, parts, cfg.task)
        tensors = data.to_tensors(parts, enc, dataset.feature_names)
        training = Training.new(cfg, enc, device, spec.seed)
        if resumed is not None:
            training.resume_from(resumed, source=str(source))
            carry_best(context, cfg.resume_run_id)
            context.tracking.set_tag("resumed_from_run_id", cfg.resume_run_id)
        context.tracking.log_params(report.params(cfg, spec, dataset, enc, device=describe_device(device),
                                                  start_epoch=training.last_epoch + 1))
        context.logger.info("training an MLP (%s) on %d rows, %s, epochs %d..%d", cfg.task, len(parts.y_train),
                            describe_device(device), training.last_epoch + 1, cfg.train.epochs)
        try:
            with ProgressBar(cfg.train.epochs - training.last_epoch, desc="torch_mlp epochs") as bar:
                training.fit(tensors, run_id=context.run_id, run_dir=run_dir, logger=context.logger, progress=bar,
                             log_metrics=lambda m, epoch: context.tracking.log_metrics(m, step=epoch))
        except BaseException:
            # Killed, failed or pruned by a search mid-training: keep what the finished epochs produced, logged.
            report.salvage(context, training, dataset, parts)
            raise
        metrics = report.finish(context, training, tensors, dataset, parts)
        return RunResult(outputs={k: metrics[k] for k in report.headline(cfg.task)}
                         | {"best_epoch": training.tracker.best_epoch, "epochs": training.last_epoch,
                            "stopped_early": training.stopped_early, "device": describe_device(device)})

    def _score(self, cfg: MlpConfig, spec: RunSpec, context: RunContext) -> RunResult:
        from plugins.common.tabular import data as tabular
        from plugins.common.torch_train.device import resolve_device
        from plugins.torch_mlp import artifacts, eval, score
        from plugins.torch_mlp.train import model_from_checkpoint

        ckpt, tags, params = score.load_source(context, cfg)
        context.tracking.set_tags({**tags, "pipeline": "score"})
        device = resolve_device(cfg.train.device)
        model, enc = model_from_checkpoint(ckpt, device)
        dataset = tabular.load(cfg.data, task=cfg.task, seed=spec.seed, require_target=False)
        X = enc.encode_X(dataset.X, dataset.feature_names)
        outputs = eval.predict(model, X, device=device)
        context.tracking.log_params({"data.source": cfg.data.source, "data.n_rows": len(X), **params})
        predictions = score.write_predictions(context.artifact_dir, outputs, enc, dataset.y)
        context.tracking.log_artifact(predictions, artifact_path="data")
        result = {"predictions": str(predictions), "rows": len(X)}
        if dataset.y is not None:
            metrics = eval.measure(outputs, enc.encode_y(dataset.y), enc, "score")
            context.tracking.log_metrics(metrics)
            artifacts.write_json(context.artifact_dir, artifacts.METRICS, metrics)
            context.tracking.log_artifact(context.artifact_dir / artifacts.METRICS, artifact_path="metrics")
            result.update(metrics)
        return RunResult(outputs=result)
