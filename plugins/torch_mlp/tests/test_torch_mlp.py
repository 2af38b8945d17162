"""torch_mlp: config checks, per-epoch history, early stopping, determinism, resume, SIGINT, score."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import RunSpec, SpecError, run
from core.testing import FakeTracking, Registry
from plugins.torch_mlp import TorchMlp
from plugins.torch_mlp.config import parse_config

EXAMPLES = Path(__file__).parents[1] / "examples"
REGISTRY = Registry({"torch_mlp": TorchMlp})
SMALL = {"data": {"source": "synthetic", "n_samples": 300, "n_features": 6, "n_informative": 4, "n_classes": 3},
         "model": {"hidden": [16]}, "train": {"epochs": 5, "batch_size": 32, "lr": 0.01}}


@pytest.mark.parametrize(
    "data_spec, field",
    [
        ({"task": "ranking"}, "data_spec.task"),
        ({"model": {"hidden": [16, 0]}}, "data_spec.model.hidden"),
        ({"model": {"hidden": "wide"}}, "data_spec.model.hidden"),
        ({"model": {"activation": "swish"}}, "data_spec.model.activation"),
        ({"model": {"dropout": 1.5}}, "data_spec.model.dropout"),
        ({"train": {"optimizer": "lbfgs"}}, "data_spec.train.optimizer"),
        ({"train": {"lr": -1}}, "data_spec.train.lr"),
        ({"train": {"epochs": 0}}, "data_spec.train.epochs"),
        ({"train": {"batch_size": 2.5}}, "data_spec.train.batch_size"),
        ({"train": {"momentum": 0.5}}, "data_spec.train.momentum"),
        ({"train": {"device": "tpu"}}, "data_spec.train.device"),
        ({"train": {"schedule": "linear"}}, "data_spec.train.schedule.type"),
        ({"train": {"schedule": {"type": "cosine", "gamma": 0.5}}}, "data_spec.train.schedule.gamma"),
        ({"early_stopping": {"metric": "val_rmse"}}, "data_spec.early_stopping.metric"),
        ({"early_stopping": {"patience": 0}}, "data_spec.early_stopping.patience"),
        ({"pipeline": "score"}, "data_spec.score.run_id"),
        ({"pipeline": "score", "score": {"run_id": "x"}, "resume": {"run_id": "y"}}, "data_spec.resume"),
        ({"split": {"train": 0.5, "val": 0.2, "test": 0.2}}, "data_spec.split"),
        ({"epochs": 3}, "data_spec.epochs"),
    ],
)
def test_config_errors_name_the_field(data_spec, field):
    with pytest.raises(SpecError) as info:
        parse_config(data_spec)
    assert f"field '{field}'" in str(info.value)


def test_params_are_structured():
    params = parse_config({"train": {"optimizer": "sgd", "schedule": {"type": "step", "step_size": 3}}}).params()
    assert params["train.optimizer"] == "sgd" and params["train.momentum"] == 0.9
    assert params["train.schedule_step_size"] == 3 and "train.schedule_patience" not in params
    assert all(k.split(".")[0] in ("model", "train", "split") for k in params)


torch = pytest.importorskip("torch", reason="needs the torch extra: pip install 'mlcore[torch]'")


def _run(root, data_spec, seed=0):
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="torch_mlp", data_spec=data_spec, seed=seed), artifact_root=root,
                  registry=REGISTRY, backend=fake)
    assert outcome.status.value == "FINISHED", outcome.error
    return outcome, fake.only_run()


def _points(recorded, name):
    """(step, value) of every logged point of `name`, in order."""
    return [(m.step, m.value) for m in recorded.metric_history(name)]


def test_one_metric_point_per_epoch_with_the_epoch_as_step(tmp_path):
    outcome, recorded = _run(tmp_path, SMALL)
    for name in ("train_loss", "val_loss", "val_accuracy", "val_f1_macro", "train_lr"):
        assert [step for step, _ in _points(recorded, name)] == [1, 2, 3, 4, 5], name
    final = recorded.final_metrics()
    assert {"test_accuracy", "test_f1_macro", "test_loss"} <= set(final)
    from plugins.common.torch_train.device import describe_device, resolve_device

    # `auto` is CUDA where there is one: the test says what this machine picks, and assumes nothing
    assert recorded.params["train.device_used"] == describe_device(resolve_device("auto"))
    assert recorded.params["model.hidden"] == "[16]" and recorded.params["train.precision"] == "fp32"
    assert recorded.params["train.epochs"] == "5" and recorded.params["seed"] == "0"
    expected = {"models/best.pt", "models/last.pt", "metrics/metrics.json", "metrics/history.json",
                "data/data_summary.json",
                "plots/confusion_matrix.png"}
    assert expected <= set(recorded.artifacts)
    last = torch.load(outcome.run_dir / "models" / "last.pt", weights_only=True)
    assert last["epoch"] == 5 and last["history"]["train_loss"] == [v for _, v in _points(recorded, "train_loss")]


def test_early_stopping_stops_and_best_pt_is_the_best_epoch(tmp_path):
    spec = {**SMALL, "train": {"epochs": 200, "batch_size": 16, "lr": 0.05},
            "early_stopping": {"metric": "val_loss", "patience": 3}}
    outcome, recorded = _run(tmp_path, spec)
    history = _points(recorded, "val_loss")
    assert len(history) < 200 and outcome.outputs["stopped_early"] is True
    best_step, best_value = min(history, key=lambda point: point[1])
    assert history[-1][0] - best_step == 3  # stopped after `patience` epochs without improvement
    best = torch.load(outcome.run_dir / "models" / "best.pt", weights_only=True)
    assert best["epoch"] == best_step == outcome.outputs["best_epoch"]
    assert best["tracker"]["best_value"] == pytest.approx(best_value)
    # test metrics come from the best epoch's weights, not the last epoch's
    assert recorded.params["train.best_epoch"] == str(best_step)


def test_same_seed_gives_identical_metrics(tmp_path):
    spec = {**SMALL, "model": {"hidden": [16, 8], "dropout": 0.2, "batch_norm": True}}
    _, first = _run(tmp_path / "a", spec, seed=11)
    _, second = _run(tmp_path / "b", spec, seed=11)
    names = {m.key for m in first.metrics if not m.key.endswith(("_seconds", "_mem_mb"))}  # timings differ
    assert {n: _points(first, n) for n in names} == {n: _points(second, n) for n in names}
    _, other = _run(tmp_path / "c", spec, seed=12)
    assert _points(other, "train_loss") != _points(first, "train_loss")


def test_resume_continues_from_the_next_epoch_exactly(tmp_path):
    """3 epochs, then resumed to 6, ends with the same metrics as 6 epochs in one go."""
    spec = {**SMALL, "model": {"hidden": [16], "dropout": 0.2},
            "train": {**SMALL["train"], "schedule": {"type": "step", "step_size": 2, "gamma": 0.5}}}
    first, _ = _run(tmp_path, {**spec, "train": {**spec["train"], "epochs": 3}})
    resumed, recorded = _run(tmp_path, {**spec, "train": {**spec["train"], "epochs": 6},
                                        "resume": {"run_id": first.run_id}})
    assert [s for s, _ in _points(recorded, "train_loss")] == [4, 5, 6]
    assert recorded.tags["resumed_from_run_id"] == first.run_id
    assert recorded.params["train.start_epoch"] == "4"
    _, straight = _run(tmp_path, {**spec, "train": {**spec["train"], "epochs": 6}})
    assert _points(recorded, "val_loss") == _points(straight, "val_loss")[3:]
    assert recorded.final_metrics()["test_accuracy"] == straight.final_metrics()["test_accuracy"]
    history = json.loads((resumed.run_dir / "metrics" / "history.json").read_text())
    assert history["epochs"] == [1, 2, 3, 4, 5, 6]


def test_resume_fetches_last_and_best_pt_from_tracking_when_the_folder_is_gone(tmp_path):
    """Through `context.run_file`: the deleted run's checkpoints come back from tracking, its best.pt
    carried into the new run; a run that exists nowhere names the spec field."""
    import shutil

    fake = FakeTracking()
    spec = {**SMALL, "train": {**SMALL["train"], "epochs": 2, "optimizer": "sgd", "lr": 0.5}}  # epoch 1 is best
    first = run(RunSpec(plugin="torch_mlp", seed=0, data_spec=spec), artifact_root=tmp_path, registry=REGISTRY,
                backend=fake)
    shutil.rmtree(first.run_dir)
    resumed = run(RunSpec(plugin="torch_mlp", seed=0, data_spec={**spec, "train": {**spec["train"], "epochs": 3},
                                                                   "resume": {"run_id": first.run_id}}),
                  artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    assert resumed.status.value == "FINISHED", resumed.error
    assert resumed.outputs["epochs"] == 3 and resumed.outputs["best_epoch"] < 3  # epoch 3 did not improve
    best = torch.load(resumed.run_dir / "models" / "best.pt", weights_only=True)
    assert best["epoch"] == resumed.outputs["best_epoch"]  # the earlier run's best.pt, carried over
    missing = run(RunSpec(plugin="torch_mlp", seed=0, data_spec={**spec, "resume": {"run_id": "no-such-run"}}),
                  artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    assert missing.status.value == "FAILED" and "data_spec.resume.run_id" in missing.error


def test_resume_with_another_network_is_bad_input(tmp_path):
    first, _ = _run(tmp_path, {**SMALL, "train": {**SMALL["train"], "epochs": 2}})
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="torch_mlp", seed=0, data_spec={**SMALL, "model": {"hidden": [8]},
                                                                  "resume": {"run_id": first.run_id}}),
                  artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    assert outcome.status.value == "FAILED" and "network differs" in outcome.error and "hidden" in outcome.error


def test_regression_logs_rmse_and_r2_in_target_units(tmp_path):
    spec = {"task": "regression", "data": {"source": "builtin", "name": "diabetes"},
            "model": {"hidden": [32]}, "train": {"epochs": 30, "lr": 0.01},
            "early_stopping": {"metric": "val_rmse"}}
    outcome, recorded = _run(tmp_path, spec)
    final = recorded.final_metrics()
    assert len(_points(recorded, "val_rmse")) == 30
    assert 30 < final["test_rmse"] < 90 and final["test_r2"] > 0.1  # diabetes targets span 25..346
    # no confusion matrix for regression; no loss-curve PNG either (the report and MLflow chart the history)
    assert not any(path.startswith("plots/") for path in recorded.artifacts)


def test_explicit_cuda_without_a_gpu_is_rejected_before_the_run(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SpecError, match="CUDA is not available"):
        run(RunSpec(plugin="torch_mlp", data_spec={**SMALL, "train": {"device": "cuda"}}),
            artifact_root=tmp_path, registry=REGISTRY, backend=FakeTracking())
    assert not (tmp_path / "runs").exists()


def test_every_example_spec_validates():
    from core import load_spec

    for example in sorted(EXAMPLES.glob("*.yaml")):
        spec = load_spec(example)
        assert spec.plugin == "torch_mlp", example
        TorchMlp().validate(spec)


def _env(tmp_path):
    return dict(os.environ, CORE_ARTIFACT_ROOT=str(tmp_path / "artifacts"), MLFLOW_DISABLE_TELEMETRY="true",
                CORE_PROGRESS="0")


def test_sigint_during_training_ends_killed_with_last_pt_and_metrics_kept(tmp_path):
    spec = tmp_path / "long.yaml"
    spec.write_text("plugin: torch_mlp\nseed: 0\ndata_spec:\n"
                    "  data: {source: synthetic, n_samples: 2000, n_features: 10}\n"
                    "  model: {hidden: [64, 64]}\n  train: {epochs: 100000, batch_size: 16}\n")
    proc = subprocess.Popen([sys.executable, "-m", "core", "run", str(spec), "--json"], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "artifacts" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(runs.glob("*/models/last.pt")) if runs.exists() else []
        if found:
            last = torch.load(found[0], weights_only=True)
            if last["epoch"] >= 2:
                break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("training never wrote last.pt for epoch 2")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    run_dir = found[0].parents[1]
    summary = json.loads((run_dir / "summary" / "run_summary.json").read_text())
    assert summary["status"] == "KILLED" and summary["error"]["message"] == "interrupted by SIGINT"
    last = torch.load(run_dir / "models" / "last.pt", weights_only=True)
    assert last["epoch"] >= 2 and len(last["history"]["train_loss"]) == last["epoch"]
    history = json.loads((run_dir / "metrics" / "history.json").read_text())
    assert history["epochs"][: last["epoch"]] == list(range(1, last["epoch"] + 1))
    assert (run_dir / "reports" / "report.html").is_file()  # its charts draw the epochs it finished

    from mlflow import MlflowClient

    client = MlflowClient(summary["tracking"]["uri"])
    tracked = client.get_run(summary["tracking"]["run_id"])
    assert tracked.info.status == "KILLED"
    steps = [m.step for m in client.get_metric_history(tracked.info.run_id, "train_loss")]
    assert steps[: last["epoch"]] == list(range(1, last["epoch"] + 1))
    logged = {f.path for f in client.list_artifacts(tracked.info.run_id, "models")}
    assert "models/last.pt" in logged

    # ... and the killed run can be continued from there.
    resume = tmp_path / "resume.yaml"
    resume.write_text(spec.read_text().replace("epochs: 100000", f"epochs: {last['epoch'] + 2}")
                      + f"  resume: {{run_id: {run_dir.name}}}\n")
    done = subprocess.run([sys.executable, "-m", "core", "run", str(resume), "--json"], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["epochs"] == last["epoch"] + 2


def test_train_then_score_end_to_end(tmp_path):
    env = _env(tmp_path)
    train = tmp_path / "train.yaml"
    train.write_text((EXAMPLES / "smoke.yaml").read_text().replace("epochs: 10", "epochs: 3"))
    proc = subprocess.run([sys.executable, "-m", "core", "run", str(train), "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    train_id = json.loads(proc.stdout)["run_id"]
    proc = subprocess.run([sys.executable, "-m", "core", "run", str(EXAMPLES / "score.yaml"), "--json",
                           "--set", f"data_spec.score.run_id={train_id}"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outputs"]["rows"] == 200 and 0 <= out["outputs"]["score_accuracy"] <= 1
    with open(Path(out["run_dir"]) / "data" / "predictions.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 200
    assert {"prediction", "label_name", "proba_0", "proba_1", "proba_2", "actual"} <= set(table[0])
    assert abs(sum(float(table[0][f"proba_{k}"]) for k in range(3)) - 1) < 1e-5

    from mlflow import MlflowClient

    scored = MlflowClient(out["tracking"]["uri"]).get_run(out["tracking"]["run_id"])
    assert scored.data.tags["source_run_id"] == train_id and scored.data.tags["pipeline"] == "score"
