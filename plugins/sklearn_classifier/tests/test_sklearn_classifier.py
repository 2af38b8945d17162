"""sklearn_classifier: config checks, parity with plain scikit-learn, train then score end to end."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import RunSpec, SpecError, run
from core.testing import FakeTracking, Registry
from plugins.sklearn_classifier import SklearnClassifier
from plugins.sklearn_common.config import parse_config

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))
REGISTRY = Registry({"sklearn_classifier": SklearnClassifier})


@pytest.mark.parametrize(
    "data_spec, field",
    [
        ({"split": {"train": 0.5, "val": 0.2, "test": 0.2}}, "data_spec.split"),
        ({"split": {"train": 1.2, "val": 0.2, "test": -0.4}}, "data_spec.split.train"),
        ({"split": {"train": 0.8, "val": 0.2}}, "data_spec.split"),
        ({"model": {"type": "xgb"}}, "data_spec.model.type"),
        ({"data": {"source": "s3"}}, "data_spec.data.source"),
        ({"data": {"source": "builtin", "name": "mnist"}}, "data_spec.data.name"),
        ({"data": {"source": "csv"}}, "data_spec.data.path"),
        ({"data": {"source": "synthetic", "n_samples": "many"}}, "data_spec.data.n_samples"),
        ({"pipeline": "deploy"}, "data_spec.pipeline"),
        ({"pipeline": "score"}, "data_spec.score.run_id"),
        ({"modle": {}}, "data_spec.modle"),
    ],
)
def test_config_errors_name_the_field(data_spec, field):
    """Each config mistake is a SpecError naming the field."""
    with pytest.raises(SpecError) as info:
        parse_config(data_spec, task="classification")
    assert f"field '{field}'" in str(info.value)


sklearn = pytest.importorskip("sklearn", reason="needs the sklearn extra: pip install 'mlcore[sklearn]'")


def test_hyperparameter_typo_names_the_allowed_ones():
    """`model.max_dept` is rejected before the run, listing RandomForestClassifier's parameters."""
    with pytest.raises(SpecError) as info:
        SklearnClassifier().validate(RunSpec(plugin="sklearn_classifier", data_spec={"model": {"max_dept": 3}}))
    assert "max_dept" in str(info.value) and "max_depth" in str(info.value)


def _run(tmp_path, data_spec, seed=0):
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="sklearn_classifier", data_spec=data_spec, seed=seed),
                  artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    assert outcome.status.value == "FINISHED", outcome.error
    return outcome, fake.only_run()


def _plain_split(X, y, seed, test=0.15, val=0.15):
    from sklearn.model_selection import train_test_split

    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=test, random_state=seed, stratify=y)
    X_tr, X_val, y_tr, y_val = train_test_split(X_rest, y_rest, test_size=val / (1 - test), random_state=seed,
                                                stratify=y_rest)
    return X_tr, X_test, y_tr, y_test


def test_parity_with_plain_sklearn_on_synthetic_data(tmp_path):
    """Same seed, same split, same forest: test metrics equal a hand-written script's to 1e-9."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    seed = 3
    _, recorded = _run(tmp_path, {"data": {"source": "synthetic", "n_samples": 600, "n_features": 8},
                                  "model": {"type": "random_forest", "n_estimators": 30}}, seed=seed)
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_redundant=2, n_classes=2,
                               class_sep=1.0, flip_y=0.01, random_state=seed)
    X_tr, X_te, y_tr, y_te = _plain_split(X, y, seed)
    model = RandomForestClassifier(n_estimators=30, random_state=seed).fit(X_tr, y_tr)
    final = recorded.final_metrics()
    assert final["test_accuracy"] == pytest.approx(accuracy_score(y_te, model.predict(X_te)), abs=1e-9)
    assert final["test_f1_macro"] == pytest.approx(f1_score(y_te, model.predict(X_te), average="macro"), abs=1e-9)
    assert final["test_log_loss"] == pytest.approx(log_loss(y_te, model.predict_proba(X_te)), abs=1e-9)


def test_parity_with_plain_sklearn_on_bundled_data(tmp_path):
    """Iris with scaled logistic regression matches the plain pipeline, and logs structured names."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    seed = 5
    outcome, recorded = _run(tmp_path, {"data": {"source": "builtin", "name": "iris"},
                                        "model": {"type": "logistic_regression", "scale": True}}, seed=seed)
    X, y = load_iris(return_X_y=True)
    X_tr, X_te, y_tr, y_te = _plain_split(X, y, seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(random_state=seed)).fit(X_tr, y_tr)
    final = recorded.final_metrics()
    assert final["test_accuracy"] == pytest.approx(accuracy_score(y_te, model.predict(X_te)), abs=1e-9)
    assert final["test_roc_auc"] == pytest.approx(
        roc_auc_score(y_te, model.predict_proba(X_te), multi_class="ovr"), abs=1e-9)
    for split in ("train", "val", "test"):
        for metric in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "log_loss", "roc_auc"):
            assert f"{split}_{metric}" in final
    assert recorded.params["data.name"] == "iris" and recorded.params["split.train"] == "0.7"
    assert recorded.params["model.type"] == "logistic_regression" and recorded.params["seed"] == "5"
    assert recorded.tags["purpose"] == "realdata"
    expected = {"models/model.joblib", "models/model_meta.json", "metrics/metrics.json",
                "data/data_summary.json", "reports/report.md", "plots/confusion_matrix.png",
                "plots/roc_curve.png", "plots/feature_importance.png", "summary/run_summary.json"}
    assert expected <= set(recorded.artifacts)
    metrics_json = json.loads((outcome.run_dir / "metrics" / "metrics.json").read_text())
    assert metrics_json["test_accuracy"] == final["test_accuracy"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_spec_runs(tmp_path, example):
    """Each shipped example spec validates and finishes."""
    from core import load_spec

    spec = load_spec(example)
    outcome = run(spec, artifact_root=tmp_path, registry=REGISTRY, backend=FakeTracking())
    assert outcome.status.value == "FINISHED", outcome.error


def _write_csv(path, rows, header):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_train_then_score_a_csv_end_to_end(tmp_path):
    """Train on a CSV with a categorical column, score another CSV: predictions, metrics, lineage tag."""
    import random

    rng = random.Random(0)
    rows = []
    for _ in range(300):
        a, b, colour = rng.uniform(0, 1), rng.uniform(0, 1), rng.choice(["red", "green", "blue"])
        label = "yes" if a + b + (0.5 if colour == "red" else 0) > 1.2 else "no"
        rows.append([round(a, 4), round(b, 4), colour, label])
    train_csv = _write_csv(tmp_path / "train.csv", rows, ["a", "b", "colour", "label"])
    score_csv = _write_csv(tmp_path / "score.csv", [r[:3] + [r[3]] for r in rows[:50]],
                           ["a", "b", "colour", "label"])
    env = dict(os.environ, CORE_ARTIFACT_ROOT=str(tmp_path / "artifacts"), MLFLOW_DISABLE_TELEMETRY="true")
    train_spec = tmp_path / "train.yaml"
    train_spec.write_text(
        f"plugin: sklearn_classifier\nseed: 1\ndata_spec:\n  data: {{source: csv, path: '{train_csv}', target: label}}\n"
        "  model: {type: logistic_regression, scale: true}\n")
    proc = _cli(["run", str(train_spec), "--json"], env)
    assert proc.returncode == 0, proc.stderr
    train_id = json.loads(proc.stdout)["run_id"]

    score_spec = tmp_path / "score.yaml"
    score_spec.write_text(
        f"plugin: sklearn_classifier\ndata_spec:\n  pipeline: score\n  score: {{run_id: {train_id}}}\n"
        f"  data: {{source: csv, path: '{score_csv}', target: label}}\n")
    proc = _cli(["run", str(score_spec), "--json"], env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outputs"]["rows"] == 50 and "score_accuracy" in out["outputs"]
    with open(Path(out["run_dir"]) / "data" / "predictions.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 50 and {"prediction", "proba_no", "proba_yes", "actual"} <= set(table[0])

    from mlflow import MlflowClient

    client = MlflowClient(out["tracking"]["uri"])
    scored = client.get_run(out["tracking"]["run_id"])
    assert scored.data.tags["source_run_id"] == train_id
    assert scored.data.tags["pipeline"] == "score"

    # a CSV without a column the model needs: exit 1 would hide it; it is bad input naming the column
    _write_csv(tmp_path / "bad.csv", [r[:2] for r in rows[:5]], ["a", "b"])
    score_spec.write_text(score_spec.read_text().replace(str(score_csv), str(tmp_path / "bad.csv")))
    proc = _cli(["run", str(score_spec)], env)
    assert proc.returncode == 1
    assert "lacks columns the model was trained on: colour" in proc.stdout


def test_score_finds_the_model_in_tracking_when_the_folder_is_gone(tmp_path):
    """With the training run's folder deleted, the model comes from its tracked artifacts."""
    import shutil

    fake = FakeTracking()
    train = run(RunSpec(plugin="sklearn_classifier", seed=0, data_spec={"plots": False}), artifact_root=tmp_path,
                registry=REGISTRY, backend=fake)
    shutil.rmtree(train.run_dir)
    scored = run(RunSpec(plugin="sklearn_classifier", seed=0,
                         data_spec={"pipeline": "score", "score": {"run_id": train.run_id}}),
                 artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    assert scored.status.value == "FINISHED", scored.error
    assert scored.outputs["rows"] == 1000
