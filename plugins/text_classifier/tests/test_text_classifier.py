"""text_classifier: config checks, a tiny model trained and scored offline, pretrained from a local folder."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import RunSpec, SpecError, run
from core.testing import FakeTracking, Registry
from plugins.text_classifier import TextClassifier
from plugins.text_classifier.config import parse_config

EXAMPLES = Path(__file__).parents[1] / "examples"
REGISTRY = Registry({"text_classifier": TextClassifier})
TINY = {"data": {"source": "synthetic", "n_samples": 120, "n_classes": 2},
        "model": {"layers": 2, "hidden": 32, "heads": 2, "vocab_size": 200, "max_length": 24, "dropout": 0.0},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.002}}


@pytest.mark.parametrize(
    "data_spec, field",
    [
        ({"data": {"source": "parquet"}}, "data_spec.data.source"),
        ({"data": {"source": "csv"}}, "data_spec.data.path"),
        ({"data": {"source": "jsonl", "path": "x.jsonl", "text_column": ""}}, "data_spec.data.text_column"),
        ({"data": {"source": "synthetic", "n_classes": 9}}, "data_spec.data.n_classes"),
        ({"model": {"source": "hub"}}, "data_spec.model.source"),
        ({"model": {"hidden": 30, "heads": 4}}, "data_spec.model.heads"),
        ({"model": {"layers": 0}}, "data_spec.model.layers"),
        ({"model": {"source": "pretrained"}}, "data_spec.model.path"),
        ({"model": {"source": "pretrained", "path": "bert-base-uncased"}}, "data_spec.model.path"),
        ({"train": {"optimizer": "lamb"}}, "data_spec.train.optimizer"),
        ({"early_stopping": {"metric": "val_rmse"}}, "data_spec.early_stopping.metric"),
        ({"pipeline": "score"}, "data_spec.score.run_id"),
        ({"tokenizer": {}}, "data_spec.tokenizer"),
    ],
)
def test_config_errors_name_the_field(data_spec, field):
    with pytest.raises(SpecError) as info:
        parse_config(data_spec)
    assert f"field '{field}'" in str(info.value)


def test_a_hub_model_name_is_refused_as_never_downloaded():
    with pytest.raises(SpecError, match="never downloaded"):
        parse_config({"model": {"source": "pretrained", "path": "bert-base-uncased"}})


pytest.importorskip("transformers", reason="needs the nlp extra: pip install 'mlcore[nlp]'")


def _run(root, data_spec, seed=0, fake=None):
    fake = fake or FakeTracking()
    outcome = run(RunSpec(plugin="text_classifier", data_spec=data_spec, seed=seed), artifact_root=root,
                  registry=REGISTRY, backend=fake)
    assert outcome.status.value == "FINISHED", outcome.error
    return outcome, fake


def _points(recorded, name):
    return [(m.step, m.value) for m in recorded.metric_history(name)]


def test_tiny_model_trains_with_per_epoch_metrics_and_saves_with_save_pretrained(tmp_path):
    outcome, fake = _run(tmp_path, TINY)
    recorded = fake.only_run()
    for name in ("train_loss", "val_loss", "val_accuracy", "val_f1_macro", "train_lr"):
        assert [s for s, _ in _points(recorded, name)] == [1, 2], name
    final = recorded.final_metrics()
    assert {"test_accuracy", "test_f1_macro", "test_loss"} <= set(final)
    assert recorded.params["model.hidden"] == "32" and recorded.params["data.source"] == "synthetic"
    assert recorded.params["split.train"] == "0.7" and recorded.params["seed"] == "0"
    assert recorded.tags["purpose"] == "synthetic"
    model_dir = outcome.run_dir / "models" / "model"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in model_dir.iterdir()}
    assert json.loads((model_dir / "config.json").read_text())["id2label"] == {"0": "sports", "1": "weather"}
    expected = {"models/model/config.json", "models/model_meta.json", "metrics/metrics.json",
                "metrics/history.json", "data/data_summary.json", "plots/confusion_matrix.png"}
    assert expected <= set(recorded.artifacts)


def test_train_then_score_with_label_names_and_probabilities(tmp_path):
    fake = FakeTracking()
    trained, _ = _run(tmp_path, TINY, fake=fake)
    score_spec = {"pipeline": "score", "score": {"run_id": trained.run_id},
                  "data": {"source": "synthetic", "n_samples": 40, "n_classes": 2}}
    scored, _ = _run(tmp_path, score_spec, seed=5, fake=fake)
    with open(scored.run_dir / "data" / "predictions.csv", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 40
    assert list(table[0]) == ["row", "text", "prediction", "proba_sports", "proba_weather", "actual"]
    assert {row["prediction"] for row in table} <= {"sports", "weather"}
    assert abs(float(table[0]["proba_sports"]) + float(table[0]["proba_weather"]) - 1) < 1e-4
    assert 0 <= scored.outputs["score_accuracy"] <= 1
    run = next(r for r in fake.runs.values() if r.tags.get("mlcore.run_id") == scored.run_id)
    assert run.tags["source_run_id"] == trained.run_id and run.tags["pipeline"] == "score"

    # With the training run's folder gone, the model comes back from tracking.
    import shutil

    shutil.rmtree(trained.run_dir)
    again, _ = _run(tmp_path, score_spec, seed=5, fake=fake)
    assert again.outputs["score_accuracy"] == scored.outputs["score_accuracy"]


def test_a_saved_tiny_model_trains_as_pretrained(tmp_path):
    """A model and tokenizer saved to a folder with save_pretrained are fine-tuned from there."""
    from plugins.text_classifier.config import TextModel
    from plugins.text_classifier.model import from_config
    from plugins.text_classifier.tokenizer import build_tokenizer

    folder = tmp_path / "tiny-bert"
    tokenizer = build_tokenizer(["a match and a goal", "rain and storm and wind"], vocab_size=100, max_length=24)
    net = from_config(TextModel(layers=1, hidden=32, heads=2, intermediate=64, max_length=24),
                      vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, labels=["x", "y", "z"])
    net.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    spec = {**TINY, "model": {"source": "pretrained", "path": str(folder), "max_length": 24}}
    outcome, fake = _run(tmp_path / "runs", spec)
    recorded = fake.only_run()
    assert recorded.params["model.source"] == "pretrained" and recorded.params["model.path"] == str(folder)
    assert len(_points(recorded, "val_loss")) == 2
    config = json.loads((outcome.run_dir / "models" / "model" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1 and config["id2label"] == {"0": "sports", "1": "weather"}


def test_csv_and_jsonl_sources(tmp_path):
    rows = [(f"the {w} was fine", label) for w, label in
            [("match", "sport"), ("goal", "sport"), ("team", "sport"), ("coach", "sport"), ("league", "sport"),
             ("rain", "sky"), ("storm", "sky"), ("cloud", "sky"), ("wind", "sky"), ("snow", "sky")] * 3]
    with open(tmp_path / "t.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("body", "topic"), *rows])
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps({"body": t, "topic": y}) for t, y in rows) + "\n")
    for source in ("csv", "jsonl"):
        data = {"source": source, "path": str(tmp_path / f"t.{source}"), "text_column": "body", "label_column": "topic"}
        outcome, _ = _run(tmp_path / source, {**TINY, "data": data, "split": {"train": 0.6, "val": 0.2, "test": 0.2}})
        assert outcome.outputs["labels"] == ["sky", "sport"]
    fake = FakeTracking()
    bad = run(RunSpec(plugin="text_classifier", data_spec={**TINY, "data": {"source": "csv", "path": str(tmp_path / "t.csv")}}),
              artifact_root=tmp_path / "bad", registry=REGISTRY, backend=fake)
    assert bad.status.value == "FAILED" and "column 'text' is not in" in bad.error and "body" in bad.error


def _env(tmp_path):
    return dict(os.environ, CORE_ARTIFACT_ROOT=str(tmp_path / "artifacts"), MLFLOW_DISABLE_TELEMETRY="true",
                CORE_PROGRESS="0")


def test_same_seed_gives_identical_metrics_across_processes(tmp_path):
    """The vocabulary, weights and batches all follow the seed, in separate processes too."""
    results = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "core", "run", str(EXAMPLES / "smoke.yaml"), "--json",
                               "--tracking-uri", "memory", "--set", "data_spec.train.epochs=2",
                               "--set", "data_spec.data.n_samples=150"],
                              env=_env(tmp_path), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((Path(json.loads(proc.stdout)["run_dir"]) / "summary" / "run_summary.json").read_text())
        # what the model learned, to the last bit (the epoch's wall time is the machine's, not the model's)
        results.append({k: v for k, v in summary["metrics"].items() if not k.endswith("_seconds")})
    assert results[0] == results[1] and "test_accuracy" in results[0]


def test_pretrained_folder_missing_is_bad_input_before_the_run(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text((EXAMPLES / "pretrained.yaml").read_text())
    proc = subprocess.run([sys.executable, "-m", "core", "run", str(spec)], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "data_spec.model.path" in proc.stderr and "never downloaded" in proc.stderr
    assert not (tmp_path / "artifacts" / "runs").exists()
