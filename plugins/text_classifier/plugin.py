"""`text_classifier`: sequence classification with transformers, fully offline; train and score.

`run()` is the glue; the loop lives in `train.py`. Only `core` and `config` are
imported at module level, so listing plugins loads no torch or transformers.
"""

from __future__ import annotations

from core import Plugin, PluginInfo, RunContext, RunInput, RunResult, RunSpec
from plugins.common.files import tag_purpose
from plugins.common.mlflow_model import score_inputs
from plugins.text_classifier.config import CONFIG_FIELDS, TextConfig, parse_config


class TextClassifier(Plugin):
    info = PluginInfo(
        key="text_classifier",
        description="transformers text classification, offline: a small BERT from config or a local model; train, score",
        extra="nlp",
        requires=("torch", "transformers", "tokenizers", "sklearn", "matplotlib", "pandas"),
        seeds=("random", "numpy", "torch"),
    )
    config_fields = CONFIG_FIELDS

    def validate(self, spec: RunSpec) -> None:
        cfg = parse_config(spec.data_spec)
        if cfg.train.device not in ("auto", "cpu") or cfg.train.precision != "fp32":
            from plugins.common.torch_train.accel import check_device_and_precision

            check_device_and_precision(cfg.train.device, cfg.train.precision)

    def inputs(self, spec: RunSpec) -> tuple[RunInput, ...]:
        from plugins.text_classifier.artifacts import MODEL_META

        cfg = parse_config(spec.data_spec)
        if cfg.pipeline != "score":
            return ()
        return score_inputs(cfg.score_run_id, cfg.score_model_uri, model_file=MODEL_META)

    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        cfg = parse_config(spec.data_spec)
        tag_purpose(context, spec, synthetic=cfg.data.source == "synthetic")
        if cfg.pipeline == "score":
            return self._score(cfg, spec, context)
        import torch

        from core import ProgressBar
        from plugins.common.torch_train.device import describe_device, resolve_device
        from plugins.text_classifier import data, model, report
        from plugins.text_classifier.tokenizer import build_tokenizer
        from plugins.text_classifier.train import TextTraining, encode

        texts = data.load(cfg.data, seed=spec.seed)
        parts = data.split(texts, cfg.split, seed=spec.seed)
        labels = sorted(set(texts.labels))
        device = resolve_device(cfg.train.device)
        if cfg.model.source == "pretrained":
            tokenizer, net = model.load_pretrained(cfg.model.path, labels=labels, field="data_spec.model.path")
        else:
            tokenizer = build_tokenizer(parts.train.texts, vocab_size=cfg.model.vocab_size,
                                        max_length=cfg.model.max_length)
            if spec.seed is not None:
                torch.manual_seed(spec.seed)  # the weights depend on the seed only, not on what ran before
            net = model.from_config(cfg.model, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                    labels=labels)
        train, val, test = (encode(tokenizer, part, labels, cfg.model.max_length)
                            for part in (parts.train, parts.val, parts.test))
        generator = torch.Generator().manual_seed(spec.seed if spec.seed is not None else torch.seed())
        training = TextTraining(cfg, net, labels, device, generator)
        context.tracking.log_params({**cfg.params(), "model.n_parameters": sum(p.numel() for p in net.parameters()),
                                     "model.vocab_used": len(tokenizer), "data.n_rows": len(texts.texts),
                                     "data.n_classes": len(labels), "train.device_used": describe_device(device),
                                     **({"seed": spec.seed} if spec.seed is not None else {})})
        context.logger.info("training a %s text classifier (%d labels) on %d texts, %s", cfg.model.source,
                            len(labels), len(train), describe_device(device))
        try:
            with ProgressBar(cfg.train.epochs, desc="text_classifier epochs") as bar:
                training.fit(train, val, logger=context.logger, progress=bar,
                             log_metrics=lambda m, epoch: context.tracking.log_metrics(m, step=epoch))
        except BaseException:
            # Killed, failed or pruned by a search mid-training: keep the best finished epoch's model and the
            # history, logged.
            report.salvage(context, training, tokenizer, texts, parts)
            raise
        metrics = report.finish(context, training, tokenizer, test, texts, parts)
        return RunResult(outputs={"test_accuracy": metrics["test_accuracy"], "test_f1_macro": metrics["test_f1_macro"],
                                  "best_epoch": training.tracker.best_epoch, "labels": labels,
                                  "device": describe_device(device)})

    def _score(self, cfg: TextConfig, spec: RunSpec, context: RunContext) -> RunResult:
        from plugins.common.torch_train.device import resolve_device
        from plugins.common.torch_train.metrics import classification_metrics
        from plugins.text_classifier import artifacts, data, model, score
        from plugins.text_classifier.train import encode, predict_logits

        folder, meta, tags, params = score.load_source(context, cfg)
        context.tracking.set_tags({**tags, "pipeline": "score"})
        tokenizer, net = model.load_pretrained(str(folder), labels=None, field="data_spec.score.run_id")
        device = resolve_device(cfg.train.device)
        net.to(device)
        texts = data.load(cfg.data, seed=spec.seed, require_labels=False)
        labels = meta["labels"]
        encoded = encode(tokenizer, texts, labels, meta["max_length"])
        logits = predict_logits(net, encoded, device=device)
        context.tracking.log_params({"data.source": cfg.data.source, "data.n_rows": len(texts.texts), **params})
        predictions = score.write_predictions(context.artifact_dir, texts.texts, logits, labels, texts.labels)
        context.tracking.log_artifact(predictions, artifact_path="data")
        result = {"predictions": str(predictions), "rows": len(texts.texts)}
        if encoded.labels is not None:
            metrics = classification_metrics(logits, encoded.labels, len(labels), "score")
            metrics = {k: v for k, v in metrics.items() if v == v}  # no loss when no label is known (NaN)
            context.tracking.log_metrics(metrics)
            artifacts.write_json(context.artifact_dir, artifacts.METRICS, metrics)
            context.tracking.log_artifact(context.artifact_dir / artifacts.METRICS, artifact_path="metrics")
            result.update(metrics)
        return RunResult(outputs=result)
