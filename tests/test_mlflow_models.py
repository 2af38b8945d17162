"""Models that leave the run (issue 15): every family's trained run logs an MLflow Model at
artifact path `model` that loads in a fresh process from `runs:/<mlflow run id>/model` and
predicts as the family's score pipeline does; `pipeline: score` takes `score.model_uri`.

The spec checks (URI forms, run_id or model_uri, `inputs`) and the contract check's `model/`
path need no extra; the rest needs each family's extra and the embedded MLflow store.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import copy_store, made_once, read_summary, run_cli, write_spec

from core import ResolvedModel, RunContext, RunInput, RunSpec, SpecError

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

GOOD_URIS = ["runs:/0123abcd/model", "models:/churn@champion", "models:/churn/3", "models:/my model@prod-2"]
BAD_URIS = ["runs:/0123abcd", "runs://model", "models:/churn", "models:/churn/0", "models:/churn@", "s3://b/model",
            "models:/a/b/c", 7]


# -- the spec: score.model_uri ---------------------------------------------------------------------------

def _parsers():
    from plugins.sklearn_common.config import parse_config as sklearn_config
    from plugins.text_classifier.config import parse_config as text_config
    from plugins.torch_mlp.config import parse_config as torch_config

    return {"sklearn": lambda d: sklearn_config(d, task="classification"), "torch_mlp": torch_config,
            "text_classifier": text_config}


@pytest.mark.parametrize("family", ["sklearn", "torch_mlp", "text_classifier"])
@pytest.mark.parametrize("uri", GOOD_URIS)
def test_score_accepts_each_model_uri_form(family, uri):
    """runs:/<id>/<path>, models:/NAME@ALIAS and models:/NAME/N are accepted by every family."""
    cfg = _parsers()[family]({"pipeline": "score", "score": {"model_uri": uri}})
    assert cfg.score_model_uri == uri and cfg.score_run_id is None


@pytest.mark.parametrize("family", ["sklearn", "torch_mlp", "text_classifier"])
@pytest.mark.parametrize("uri", BAD_URIS)
def test_a_malformed_model_uri_is_one_spec_error_naming_the_field(family, uri):
    """A URI of no known form is a SpecError naming data_spec.score.model_uri and the forms allowed."""
    with pytest.raises(SpecError) as info:
        _parsers()[family]({"pipeline": "score", "score": {"model_uri": uri}})
    message = str(info.value)
    assert "data_spec.score.model_uri" in message and "models:/NAME@ALIAS" in message
    assert "\n" not in message


@pytest.mark.parametrize("family", ["sklearn", "torch_mlp", "text_classifier"])
def test_score_takes_run_id_or_model_uri_not_both_nor_neither(family):
    """Both is an error naming data_spec.score; neither names run_id and mentions model_uri."""
    parse = _parsers()[family]
    with pytest.raises(SpecError, match="not both") as both:
        parse({"pipeline": "score", "score": {"run_id": "r1", "model_uri": "models:/m/1"}})
    assert "field 'data_spec.score'" in str(both.value)
    with pytest.raises(SpecError) as neither:
        parse({"pipeline": "score"})
    assert "data_spec.score.run_id" in str(neither.value) and "model_uri" in str(neither.value)


@pytest.mark.parametrize("family", ["sklearn", "torch_mlp", "text_classifier"])
def test_log_model_is_a_boolean_defaulting_to_true(family):
    parse = _parsers()[family]
    assert parse({}).log_model is True and parse({"log_model": False}).log_model is False
    with pytest.raises(SpecError, match="data_spec.log_model"):
        parse({"log_model": "no"})


def _plugins():
    from plugins.sklearn_classifier import SklearnClassifier
    from plugins.sklearn_regressor import SklearnRegressor
    from plugins.text_classifier import TextClassifier
    from plugins.torch_mlp import TorchMlp

    return {"sklearn_classifier": (SklearnClassifier, "models/model.joblib"),
            "sklearn_regressor": (SklearnRegressor, "models/model.joblib"),
            "torch_mlp": (TorchMlp, "models/best.pt"),
            "text_classifier": (TextClassifier, "models/model_meta.json")}


@pytest.mark.parametrize("key", ["sklearn_classifier", "sklearn_regressor", "torch_mlp", "text_classifier"])
def test_inputs_declare_the_run_file_or_the_model_uri(key):
    """`inputs` names what a score run needs so core can check it first; a training run needs nothing."""
    cls, model_file = _plugins()[key]
    plugin = cls()
    spec = RunSpec(plugin=key, data_spec={"pipeline": "score", "score": {"run_id": "r1"}})
    assert plugin.inputs(spec) == (RunInput(field="data_spec.score.run_id", run_id="r1", path=model_file),)
    spec = RunSpec(plugin=key, data_spec={"pipeline": "score", "score": {"model_uri": "models:/m@prod"}})
    assert plugin.inputs(spec) == (RunInput(field="data_spec.score.model_uri", model_uri="models:/m@prod"),)
    assert plugin.inputs(RunSpec(plugin=key)) == ()


def test_the_contract_check_accepts_an_mlflow_model_at_artifact_path_model(tmp_path):
    """`model/` is a standard artifact path when it holds an MLflow Model (an MLmodel file), logged
    from wherever the plugin saved it; other paths still must match their folder."""
    from core._plugin_check import _artifact_paths, artifact_problem

    assert artifact_problem("model/MLmodel") is None and artifact_problem("model/artifacts/weights.pt") is None
    assert artifact_problem("mlflow_model/MLmodel") is not None
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "m.json").write_text("{}")
    ok = _artifact_paths(tmp_path, {"metrics/m.json": b"{}", "model/MLmodel": b"", "model/model.pkl": b""})
    assert ok.ok, ok.reason
    bad = _artifact_paths(tmp_path, {"metrics/m.json": b"{}", "model/notes.txt": b""})
    assert not bad.ok and "MLmodel" in bad.reason


# -- trained runs: the MLflow Model in a fresh process, against the score pipeline -------------------------

def _categorical_csv(path: Path, *, n: int, seed: int, label: bool) -> Path:
    """Rows with two numeric columns, a categorical one and (optionally) a yes/no label."""
    import numpy as np

    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = np.where(a + (colour == "red") * 1.5 - b > 0.3, "yes", "no")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "colour", "b", *(["label"] if label else [])])
        for i in range(n):
            w.writerow([f"{a[i]:.6f}", colour[i], f"{b[i]:.6f}", *([y[i]] if label else [])])
    return path


def _synthetic_csv(path: Path, *, n: int, n_features: int, seed: int) -> Path:
    import numpy as np

    X = np.random.default_rng(seed).normal(size=(n, n_features))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"f{i}" for i in range(n_features)])
        w.writerows([[f"{v:.6f}" for v in row] for row in X])
    return path


def _text_csv(path: Path) -> Path:
    texts = ["the striker scored a goal for the team", "heavy rain and a cold wind in the forecast",
             "the coach praised the league season", "a sunny day after the storm", "match referee stadium"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text"])
        w.writerows([[t] for t in texts])
    return path


FAMILIES = {
    # key: (extra module, train data_spec, held-out rows (writer), score data section)
    "sklearn_classifier": ("sklearn", lambda d: {
        "data": {"source": "csv", "path": str(_categorical_csv(d / "train.csv", n=240, seed=1, label=True)),
                 "target": "label"},
        "model": {"type": "random_forest", "n_estimators": 20, "max_depth": 5}, "plots": False},
        lambda d: {"source": "csv", "path": str(_categorical_csv(d / "new.csv", n=40, seed=2, label=False))}),
    "sklearn_regressor": ("sklearn", lambda d: {
        "data": {"source": "synthetic", "n_samples": 200, "n_features": 6, "n_informative": 4},
        "model": {"type": "ridge", "scale": True}, "plots": False},
        lambda d: {"source": "csv", "path": str(_synthetic_csv(d / "new.csv", n=40, n_features=6, seed=3))}),
    "torch_mlp": ("torch", lambda d: {
        "task": "classification",
        "data": {"source": "csv", "path": str(_categorical_csv(d / "train.csv", n=240, seed=1, label=True)),
                 "target": "label"},
        "model": {"hidden": [16]}, "train": {"epochs": 2, "batch_size": 32, "device": "cpu"}, "plots": False},
        lambda d: {"source": "csv", "path": str(_categorical_csv(d / "new.csv", n=40, seed=2, label=False))}),
    "text_classifier": ("transformers", lambda d: {
        "data": {"source": "synthetic", "n_samples": 120, "n_classes": 2},
        "model": {"layers": 2, "hidden": 32, "heads": 2, "vocab_size": 200, "max_length": 24, "dropout": 0.0},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.002, "device": "cpu"}, "plots": False},
        lambda d: {"source": "csv", "path": str(_text_csv(d / "new.csv"))}),
}

# Run in a fresh process: load runs:/<id>/model, predict on its input example and on the held-out
# rows; for the sklearn flavour also predict_proba. Writes JSON for the test to compare.
_LOAD = textwrap.dedent("""
    import json, sys
    import mlflow, pandas as pd
    uri, store, rows_csv, out = sys.argv[1:5]
    mlflow.set_tracking_uri(store)
    model = mlflow.pyfunc.load_model(uri)
    example = model.input_example
    rows = pd.read_csv(rows_csv, dtype={"colour": str, "text": str})
    def plain(p):
        return p.to_dict(orient="list") if isinstance(p, pd.DataFrame) else {"prediction": list(map(str, p)) if p.dtype.kind in "OUSb" or p.dtype.kind in "iu" else [float(v) for v in p]}
    result = {"example_rows": len(example), "example": plain(model.predict(example)), "rows": plain(model.predict(rows)),
              "flavors": sorted(model.metadata.flavors)}
    if "sklearn" in result["flavors"]:
        sk = mlflow.sklearn.load_model(uri)
        if hasattr(sk, "predict_proba"):
            result["proba"] = {f"proba_{c}": list(map(float, col)) for c, col in zip(sk.classes_, sk.predict_proba(rows).T)}
    json.dump(result, open(out, "w"), default=str)
""")


def _store_uri(env) -> str:
    return f"sqlite:///{Path(env['CORE_ARTIFACT_ROOT']) / 'mlflow' / 'mlflow.db'}"


def _train(tmp_path, env, key, data_spec) -> tuple[Path, str]:
    spec = write_spec(tmp_path / "train.yaml", json.dumps({"plugin": key, "seed": 0, "data_spec": data_spec}))
    proc = run_cli(["run", str(spec)], env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = max((Path(env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir())
    mlflow_id = read_summary(run_dir)["tracking"]["run_id"]
    assert mlflow_id and (run_dir / "models" / "mlflow_model" / "MLmodel").is_file()
    return run_dir, mlflow_id


def _score(tmp_path, env, key, score, data) -> Path:
    before = set((Path(env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir())
    spec = write_spec(tmp_path / "score.yaml", json.dumps(
        {"plugin": key, "data_spec": {"pipeline": "score", "score": score, "data": data,
                                      **({"task": "classification"} if key == "torch_mlp" else {})}}))
    proc = run_cli(["run", str(spec)], env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = set((Path(env["CORE_ARTIFACT_ROOT"]) / "runs").iterdir()) - before
    return run_dir


def _predictions(run_dir: Path) -> dict[str, list[str]]:
    with open(run_dir / "data" / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [r[k] for r in rows] for k in rows[0]}


def _same_predictions(expected: dict[str, list[str]], got: dict[str, list], *, regression: bool) -> None:
    """Labels exactly, probabilities (and regression values) within 1e-6."""
    if regression:
        assert [float(v) for v in expected["prediction"]] == pytest.approx(
            [float(v) for v in got["prediction"]], abs=1e-6, rel=1e-6)
    else:
        assert [str(v) for v in got["prediction"]] == expected["prediction"]
    probas = [k for k in expected if k.startswith("proba_")]
    for k in probas:
        assert [float(v) for v in got[k]] == pytest.approx([float(v) for v in expected[k]], abs=1e-6), k


@pytest.fixture(scope="session")
def trained_and_scored(tmp_path_factory, ext_site, migrated_store):
    """`get(key)`: the family's model trained by `core run` on an embedded store of its own, then scored
    from its run (`score.run_id`) by the family's score pipeline; returns (env, run_dir, mlflow id, the
    new rows' data spec, the score run's predictions). Made once per test run for each family
    (`made_once`) and then only read: both tests below begin with this same training and scoring, which
    is most of their time."""
    made = {}

    def env_for(folder):  # this process's environment (each worker's own cache), as mlflow_env makes it
        env = dict(os.environ, CORE_ARTIFACT_ROOT=str(folder / "artifacts"))
        env["PYTHONPATH"] = os.pathsep.join([str(ext_site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.pop("CORE_TRACKING_URI", None)  # the embedded store
        return env

    def make(key, folder):
        _, train_spec, new_rows = FAMILIES[key]
        env = env_for(folder)
        copy_store(migrated_store, folder / "artifacts")
        run_dir, mlflow_id = _train(folder, env, key, train_spec(folder))
        data = new_rows(folder)
        scored = _predictions(_score(folder, env, key, {"run_id": run_dir.name}, data))
        (folder / "made.json").write_text(json.dumps({"run_dir": str(run_dir), "mlflow_id": mlflow_id,
                                                      "data": data, "scored": scored}))

    def get(key):
        if key not in made:
            folder = made_once(tmp_path_factory, f"trained_{key}", lambda f: make(key, f))
            m = json.loads((folder / "made.json").read_text())
            made[key] = (env_for(folder), Path(m["run_dir"]), m["mlflow_id"], m["data"], m["scored"])
        return made[key]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("key", list(FAMILIES))
def test_the_logged_model_loads_in_a_fresh_process_and_predicts_as_score_does(key, trained_and_scored, tmp_path):
    """Train with `core run` on the embedded store; a fresh process loads runs:/<id>/model, predicts on
    the input example and on held-out raw rows, and agrees with the family's score pipeline."""
    module, _, _ = FAMILIES[key]
    pytest.importorskip(module, reason=f"needs the extra behind {key}")
    mlflow_env, run_dir, mlflow_id, data, scored = trained_and_scored(key)

    out = tmp_path / "loaded.json"
    proc = subprocess.run([sys.executable, "-c", _LOAD, f"runs:/{mlflow_id}/model", _store_uri(mlflow_env),
                           data["path"], str(out)], env=mlflow_env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(out.read_text())
    assert loaded["example_rows"] == 5 and len(loaded["example"]["prediction"]) == 5
    if key.startswith("sklearn"):
        assert "sklearn" in loaded["flavors"]
    got = {**loaded["rows"], **loaded.get("proba", {})}
    _same_predictions(scored, got, regression=key == "sklearn_regressor")
    if key == "torch_mlp":
        assert got["label_name"] == scored["label_name"]
    # logged once, at `model`: not a second time under models/mlflow_model
    logged = _artifact_paths(mlflow_env, mlflow_id)
    assert "model/MLmodel" in logged and not any(p.startswith("models/mlflow_model") for p in logged)


def _artifact_paths(env, mlflow_id) -> list[str]:
    code = ("import sys, mlflow\nfrom mlflow import MlflowClient\nc = MlflowClient(sys.argv[1])\n"
            "def walk(p=None):\n  for f in c.list_artifacts(sys.argv[2], p):\n"
            "    yield from (walk(f.path) if f.is_dir else [f.path])\nprint('\\n'.join(walk()))")
    proc = subprocess.run([sys.executable, "-c", code, _store_uri(env), mlflow_id], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


class _Tracker:
    """Just enough of a Tracker to run a score pipeline in-process."""

    def __init__(self):
        self.tags, self.params, self.metrics, self.artifacts = {}, {}, {}, []

    def set_tags(self, tags):
        self.tags.update(tags)

    def set_tag(self, key, value):
        self.tags[key] = value

    def log_params(self, params):
        self.params.update(params)

    def log_metrics(self, metrics, step=None):
        self.metrics.update(metrics)

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append((str(path), artifact_path))

    def log_artifacts(self, path, artifact_path=None):
        self.artifacts.append((str(path), artifact_path))


def _downloading_locator(store: str, dest: Path):
    """What core's `locate_model` does for a runs:/ URI, done here with MLflow itself."""
    import mlflow

    def locate(uri: str) -> ResolvedModel:
        path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest), tracking_uri=store)
        return ResolvedModel(uri=uri, path=Path(path), mlflow_run_id=uri.split("/")[1])

    return locate


@pytest.mark.slow
@pytest.mark.parametrize("key", ["sklearn_classifier", "torch_mlp", "text_classifier"])
def test_score_from_a_model_uri_predicts_as_score_from_the_run_and_tags_the_source(key, trained_and_scored,
                                                                                  tmp_path):
    """`score.model_uri: runs:/<id>/model` (resolved by a context's locate_model) gives the same
    predictions as `score.run_id`, and tags source_model_uri and source_model_version."""
    module, _, _ = FAMILIES[key]
    pytest.importorskip(module, reason=f"needs the extra behind {key}")
    cls = _plugins()[key][0]
    mlflow_env, run_dir, mlflow_id, data, scored = trained_and_scored(key)

    uri = f"runs:/{mlflow_id}/model"
    spec = RunSpec(plugin=key, data_spec={"pipeline": "score", "score": {"model_uri": uri}, "data": data,
                                          **({"task": "classification"} if key == "torch_mlp" else {})})
    cls().validate(spec)
    out_dir, tracker = tmp_path / "uri_run", _Tracker()
    out_dir.mkdir()
    context = RunContext(run_id="uri-run", spec=spec, tracking=tracker, artifact_dir=out_dir,
                         logger=logging.getLogger("test"),
                         locate_model=_downloading_locator(_store_uri(mlflow_env), tmp_path / "fetched"))
    cls().run(spec, context=context)
    _same_predictions(scored, _predictions(out_dir), regression=False)
    assert tracker.tags["source_model_uri"] == uri and tracker.tags["source_model_version"] == mlflow_id
    assert tracker.tags["pipeline"] == "score" and tracker.params["model.source_uri"] == uri


@pytest.mark.slow
def test_core_run_scores_from_a_runs_uri(mlflow_env, tmp_path):
    """End to end through `core run`: score.model_uri runs:/<id>/model, tags in the summary's run."""
    pytest.importorskip("sklearn", reason="needs the sklearn extra")
    _, train_spec, new_rows = FAMILIES["sklearn_regressor"]
    run_dir, mlflow_id = _train(tmp_path, mlflow_env, "sklearn_regressor", train_spec(tmp_path))
    data = new_rows(tmp_path)
    by_run = _predictions(_score(tmp_path, mlflow_env, "sklearn_regressor", {"run_id": run_dir.name}, data))
    by_uri_dir = _score(tmp_path, mlflow_env, "sklearn_regressor", {"model_uri": f"runs:/{mlflow_id}/model"}, data)
    _same_predictions(by_run, _predictions(by_uri_dir), regression=True)


# -- torch: a model saved from CUDA loads on a CPU ----------------------------------------------------------

def test_a_torch_mlflow_model_whose_weights_say_cuda_loads_on_the_cpu(tmp_path, monkeypatch):
    """The pyfunc reads its weights with map_location='cpu': weights saved from cuda:0 (made here
    without a GPU, by tagging every tensor's storage cuda:0 as torch.save writes it) load and predict."""
    torch = pytest.importorskip("torch", reason="needs the torch extra")
    import mlflow.pyfunc
    import pandas as pd

    from core import run
    from core.testing import FakeTracking, Registry
    from plugins.torch_mlp import TorchMlp

    spec = RunSpec(plugin="torch_mlp", seed=0, data_spec={
        "data": {"source": "synthetic", "n_samples": 120, "n_features": 5, "n_informative": 3},
        "model": {"hidden": [8]}, "train": {"epochs": 1, "device": "cpu"}, "plots": False})
    outcome = run(spec, artifact_root=tmp_path, registry=Registry({"torch_mlp": TorchMlp}), backend=FakeTracking())
    assert outcome.status.value == "FINISHED", outcome.error
    folder = tmp_path / "runs" / outcome.run_id / "models" / "mlflow_model"
    rows = pd.DataFrame({f"f{i}": [0.1 * i, -0.2, 1.5] for i in range(5)})
    expected = mlflow.pyfunc.load_model(str(folder)).predict(rows)

    weights = folder / "artifacts" / "weights.pt"
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(ckpt, weights)
    if not torch.cuda.is_available():  # the file really says cuda: a plain load needs a GPU
        with pytest.raises(RuntimeError, match="(?i)cuda"):
            torch.load(weights, weights_only=True)
    got = mlflow.pyfunc.load_model(str(folder)).predict(rows)
    pd.testing.assert_frame_equal(got, expected)
