"""Models that leave the run, core's side (issue 15 items 2-4): `register:` / `core run --register`
puts a FINISHED run's MLflow Model in MLflow's Model Registry through the journal (offline runs
register on `core sync`, once), `context.model` resolves `runs:/` and `models:/` URIs into the run's
`inputs/`, bad URIs are bad input before any folder, and `core models list|show|serve`.

The plugins here are this file's own (a fake distribution on PYTHONPATH gives subprocesses their
entry points): a stub MLflow Model folder needs no MLflow at all; the served model is a real pyfunc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import read_summary, run_cli, write_spec

from core import ModelNotFound, RunSpec, RunStatus, SpecError
from core._runner import run
from core._spec import spec_from_mapping
from core._tracking.backend import RUN_ID_TAG
from core._tracking.fake import FakeTracking
from core._tracking.journal import Journal
from core._tracking.recorder import send_records
from core.testing import Registry

PLUGIN_SOURCE = '''
from core import Plugin, PluginInfo, RunInput, RunResult


class Train(Plugin):
    """Logs an MLflow Model at artifact path `model` (a stub folder, or a real pyfunc that doubles `x`)."""

    info = PluginInfo(key="tiny_train")

    def run(self, spec, *, context):
        cfg = spec.data_spec
        if cfg.get("fail"):
            raise RuntimeError("asked to fail")
        folder = context.artifact_dir / "models" / "mlflow_model"
        if cfg.get("model", "stub") == "pyfunc":
            import mlflow.pyfunc

            folder.parent.mkdir(parents=True, exist_ok=True)
            mlflow.pyfunc.save_model(str(folder), python_model=Doubler(), pip_requirements=[])
        elif cfg.get("model", "stub") == "stub":
            folder.mkdir(parents=True)
            (folder / "MLmodel").write_text("flavors: {}\\nmetadata: {mlcore_plugin: tiny_train}\\n")
            (folder / "weights.txt").write_text(str(cfg.get("score", 0.5)))
        if cfg.get("model", "stub") != "none":
            context.tracking.log_artifacts(folder, artifact_path="model")
        context.tracking.log_metrics({"val_score": 0.1, "test_score": float(cfg.get("score", 0.5))})
        return RunResult(outputs={"trained": True})


class Score(Plugin):
    """Resolves `data_spec.model_uri` through `context.model` and reports what it got."""

    info = PluginInfo(key="tiny_score")

    def inputs(self, spec):
        return (RunInput(field="data_spec.model_uri", model_uri=spec.data_spec["model_uri"]),)

    def run(self, spec, *, context):
        model = context.model(spec.data_spec["model_uri"])
        context.tracking.set_tags({"source_model_uri": model.uri, "source_model_version": str(model.version)})
        return RunResult(outputs={"version": model.version, "name": model.name, "source_run": model.run_id,
                                  "mlflow_run": model.mlflow_run_id,
                                  "path": str(model.path.relative_to(context.artifact_dir)),
                                  "weights": (model.path / "weights.txt").read_text()})


try:
    import mlflow.pyfunc as _pyfunc
except ImportError:  # mlflow-skinny without what pyfunc needs: only the stub model is used then
    _pyfunc = None

if _pyfunc is not None:
    class Doubler(_pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [2 * float(x) for x in model_input["x"]]
'''


@pytest.fixture(scope="session")
def tiny_site(tmp_path_factory) -> Path:
    """This file's plugins as an installed distribution: a package and a dist-info with entry points."""
    site = tmp_path_factory.mktemp("tiny_site")
    (site / "tiny_models").mkdir()
    (site / "tiny_models" / "__init__.py").write_text(PLUGIN_SOURCE)
    info = site / "tiny_models-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-models\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[mlcore.plugins]\ntiny_train = tiny_models:Train\ntiny_score = tiny_models:Score\n")
    return site


@pytest.fixture
def env(mlflow_env, tiny_site) -> dict[str, str]:
    """`core` subprocesses on the embedded MLflow store (already migrated), with this file's plugins."""
    out = dict(mlflow_env)
    out["PYTHONPATH"] = os.pathsep.join([str(tiny_site), out.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return out


@pytest.fixture
def plugins(tiny_site) -> Registry:
    sys.path.insert(0, str(tiny_site))
    try:
        import tiny_models
    finally:
        sys.path.remove(str(tiny_site))
    return Registry({"tiny_train": tiny_models.Train, "tiny_score": tiny_models.Score})


def _train(tmp_path: Path, env: dict[str, str], *args: str, score: float = 0.5, model: str = "stub",
           name: str = "train.yaml") -> subprocess.CompletedProcess:
    spec = write_spec(tmp_path / name, f"plugin: tiny_train\ndata_spec: {{score: {score}, model: {model}}}\n")
    return run_cli(["run", str(spec), *args], env)


def _score_spec(tmp_path: Path, uri: str) -> Path:
    return write_spec(tmp_path / "score.yaml", f"plugin: tiny_score\ndata_spec: {{model_uri: '{uri}'}}\n")


def _runs(env: dict[str, str]) -> list[Path]:
    runs = Path(env["CORE_ARTIFACT_ROOT"]) / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


# -- the spec's `register:` ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("churn", {"name": "churn", "alias": None, "tags": {}}),
    ("churn@champion", {"name": "churn", "alias": "champion", "tags": {}}),
    ({"name": "churn", "alias": "prod-2", "tags": {"team": "growth", "n": 3}},
     {"name": "churn", "alias": "prod-2", "tags": {"team": "growth", "n": "3"}}),
])
def test_register_field_forms(value, expected):
    """`register:` is a name, NAME@ALIAS, or {name, alias, tags}; it travels in the spec and its dict."""
    spec = spec_from_mapping({"plugin": "p", "register": value})
    assert spec.register == expected and spec.to_dict()["register"] == expected
    assert "register" not in spec_from_mapping({"plugin": "p"}).to_dict()  # specs without it read as before


@pytest.mark.parametrize(("value", "field"), [
    ("bad name", "register"), ("churn@", "register.alias"), ("churn@latest", "register.alias"),
    ("churn@v3", "register.alias"), (3, "register"), ({"alias": "a"}, "register.name"),
    ({"name": "c", "stage": "x"}, "register.stage"), ({"name": "c", "tags": {"mlcore.run_id": "x"}},
                                                      "register.tags.mlcore.run_id"),
    ({"name": "c", "tags": [1]}, "register.tags"),
])
def test_bad_register_field_is_one_line_naming_file_and_field(value, field):
    with pytest.raises(SpecError) as caught:
        spec_from_mapping({"plugin": "p", "register": value}, source="train.yaml")
    text = str(caught.value)
    assert text.startswith(f"train.yaml: field '{field}'") and "\n" not in text and caught.value.exit_code == 2


# -- registration and resolution, in process on the recording fake --------------------------------------

def test_register_moves_the_alias_and_models_uri_resolves_the_new_version(tmp_path, plugins):
    fake = FakeTracking()
    request = {"name": "churn", "alias": "champion", "tags": {"team": "growth"}}
    first = run(RunSpec(plugin="tiny_train", data_spec={"score": 0.7}, register=request), artifact_root=tmp_path,
                registry=plugins, backend=fake)
    second = run(RunSpec(plugin="tiny_train", data_spec={"score": 0.9}, register=request), artifact_root=tmp_path,
                 registry=plugins, backend=fake)
    assert (first.summary.registered.version, second.summary.registered.version) == ("1", "2")
    assert second.summary.registered.alias == "champion" and read_summary(second.run_dir)["registered"] == {
        "name": "churn", "version": "2", "alias": "champion", "error": None}
    newest = fake.model_versions("churn")[0]
    assert newest.aliases == ("champion",) and newest.tags == {
        "team": "growth", RUN_ID_TAG: second.run_id, "plugin": "tiny_train", "headline_metric": "test_score",
        "test_score": "0.9"}
    scored = run(RunSpec(plugin="tiny_score", data_spec={"model_uri": "models:/churn@champion"}),
                 artifact_root=tmp_path, registry=plugins, backend=fake)
    assert scored.status is RunStatus.FINISHED, scored.error
    assert scored.outputs | {"mlflow_run": None} == {
        "version": "2", "name": "churn", "source_run": second.run_id, "mlflow_run": None,
        "path": "inputs/models/churn-v2/model", "weights": "0.9"}
    by_version = run(RunSpec(plugin="tiny_score", data_spec={"model_uri": "models:/churn/1"}), artifact_root=tmp_path,
                     registry=plugins, backend=fake)
    assert by_version.outputs["weights"] == "0.7"


def test_a_failed_run_never_registers(tmp_path, plugins):
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="tiny_train", data_spec={"fail": True}, register={"name": "churn", "alias": "a"}),
                  artifact_root=tmp_path, registry=plugins, backend=fake)
    assert outcome.status is RunStatus.FAILED and outcome.summary.registered is None
    assert fake.models == {} and "register_model" not in fake.calls
    assert not any('"op":"register"' in line for line in (outcome.run_dir / "tracking" / "journal.jsonl").open())


def test_a_run_without_a_model_stays_finished_and_says_why(tmp_path, plugins):
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="tiny_train", data_spec={"model": "none"}, register={"name": "churn"}),
                  artifact_root=tmp_path, registry=plugins, backend=fake)
    assert outcome.status is RunStatus.FINISHED and fake.models == {}
    assert outcome.summary.registered.version is None
    assert "logged no 'model' artifact" in outcome.summary.registered.error
    log = (outcome.run_dir / "logs" / "run.log").read_text()
    assert [line for line in log.splitlines() if "logged no 'model' artifact" in line]


def test_resending_a_registration_makes_no_second_version(tmp_path, plugins):
    """A crash after tracking made the version, before the journal heard: the resend finds it by its tag."""
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="tiny_train", register={"name": "churn", "alias": "champion"}),
                  artifact_root=tmp_path, registry=plugins, backend=fake)
    journal = Journal(outcome.run_dir)
    record = journal.register
    assert record is not None and journal.sent_seq == record["seq"]
    send_records(fake, journal, [record])
    assert [v.version for v in fake.model_versions("churn")] == ["1"] and fake.calls["register_model"] == 2


@pytest.mark.parametrize("how", [{"tracking_uri": "offline:"}, {"offline": True, "backend": FakeTracking()}])
def test_scoring_from_a_model_offline_is_bad_input(tmp_path, plugins, how):
    """The model is fetched from tracking during the run: an offline run cannot have it."""
    with pytest.raises(ModelNotFound, match="tracking is offline, so the model cannot be fetched"):
        run(RunSpec(plugin="tiny_score", data_spec={"model_uri": "models:/churn@champion"}), artifact_root=tmp_path,
            registry=plugins, **how)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("uri", "says"), [
    ("models:/nope@champion", "no registered model 'nope' in memory (registered models: churn)"),
    ("models:/churn@nope", "model 'churn' has no alias 'nope' (aliases: champion -> v1; versions: 1)"),
    ("models:/churn/7", "model 'churn' has no version 7"),
    ("runs:/fake-99/model", "no MLflow run 'fake-99'"),
    ("runs:/fake-1/weights", "run fake-1 logged nothing at 'weights' (its artifacts: logs, model, reports"),
    ("models:/churn", "is not an MLflow Model URI (allowed: runs:/<mlflow run id>/model, models:/NAME@ALIAS"),
])
def test_a_missing_model_is_bad_input_before_any_folder(tmp_path, plugins, uri, says):
    fake = FakeTracking()
    run(RunSpec(plugin="tiny_train", register={"name": "churn", "alias": "champion"}), artifact_root=tmp_path / "a",
        registry=plugins, backend=fake)
    with pytest.raises(ModelNotFound) as caught:
        run(RunSpec(plugin="tiny_score", data_spec={"model_uri": uri}), artifact_root=tmp_path / "b",
            registry=plugins, backend=fake, source="score.yaml")
    text = str(caught.value)
    assert text.startswith("score.yaml: field 'data_spec.model_uri': ") and says in text and "\n" not in text
    assert caught.value.exit_code == 2 and not (tmp_path / "b").exists()


# -- the embedded MLflow store, through the `core` command ----------------------------------------------

def test_register_alias_and_score_on_the_embedded_store(tmp_path, env):
    """Train twice with --register; the better run takes the alias; scoring with models:/NAME@ALIAS gets it."""
    first = _train(tmp_path, env, "--register", "churn@champion", score=0.7)
    assert first.returncode == 0, first.stderr
    assert "registered: churn v1 @champion" in first.stdout
    second = _train(tmp_path, env, "--register", "churn@champion", "--json", score=0.9)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["registered"] == {"name": "churn", "version": "2", "alias": "champion",
                                                       "error": None}
    train_ids = [p.name for p in _runs(env)]

    listed = run_cli(["models", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["version"], r["aliases"], r["run_id"], r["headline_metric"], r["headline_value"])
            for r in rows] == [("churn", "2", ["champion"], train_ids[1], "test_score", 0.9),
                               ("churn", "1", [], train_ids[0], "test_score", 0.7)]
    shown = run_cli(["models", "show", "churn@champion", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["version"] == "2" and json.loads(shown.stdout)["plugin"] == "tiny_train"
    table = run_cli(["models", "show", "churn"], env)
    assert table.returncode == 0 and "churn v2  @champion" in table.stdout and "churn v1" in table.stdout

    scored = run_cli(["run", str(_score_spec(tmp_path, "models:/churn@champion")), "--json"], env)
    assert scored.returncode == 0, scored.stderr
    outputs = json.loads(scored.stdout)["outputs"]
    assert (outputs["version"], outputs["source_run"], outputs["weights"]) == ("2", train_ids[1], "0.9")
    assert outputs["path"] == "inputs/models/churn-v2/model"
    summary = read_summary(Path(json.loads(scored.stdout)["run_dir"]))
    assert summary["tags"]["source_model_version"] == "2"

    mlflow_run = rows[0]["mlflow_run_id"]
    by_run = run_cli(["run", str(_score_spec(tmp_path, f"runs:/{mlflow_run}/model")), "--json"], env)
    assert by_run.returncode == 0, by_run.stderr
    assert json.loads(by_run.stdout)["outputs"]["path"] == f"inputs/{mlflow_run}/model"


BAD_URIS = [
    ("models:/nope@champion", "no registered model 'nope'", ("validate", "run")),
    ("models:/churn@gone", "model 'churn' has no alias 'gone' (aliases: champion -> v1; versions: 1)", ("run",)),
    ("models:/churn/4", "model 'churn' has no version 4", ("validate",)),
    ("runs:/0123456789abcdef/model", "no MLflow run '0123456789abcdef'", ("validate",)),
    ("models:/churn", "is not an MLflow Model URI", ("validate",)),
]


def test_bad_model_uri_exits_2_with_one_line_before_any_folder(tmp_path, env, tiny_site, monkeypatch, capsys):
    """Unknown names, aliases, versions and runs, and malformed URIs: `core validate` and `core run` exit 2
    with one line naming the spec, the field, the URI and what exists; no run folder is made. (The
    checks run in this process, `core.cli.main`, to pay for importing MLflow once.)"""
    from core.cli import main

    assert _train(tmp_path, env, "--register", "churn@champion").returncode == 0
    before = _runs(env)
    monkeypatch.setenv("CORE_ARTIFACT_ROOT", env["CORE_ARTIFACT_ROOT"])
    monkeypatch.delenv("CORE_TRACKING_URI", raising=False)
    monkeypatch.syspath_prepend(str(tiny_site))
    capsys.readouterr()

    def cli(*args: str) -> tuple[int, list[str]]:
        code = main(list(args))
        return code, capsys.readouterr().err.strip().splitlines()

    for uri, says, commands in BAD_URIS:
        for command in commands:
            code, lines = cli(command, str(_score_spec(tmp_path, uri)))
            assert code == 2, (command, uri, lines)
            assert len(lines) == 1 and lines[0].startswith("core: error: ") and says in lines[0], lines
            assert "score.yaml: field 'data_spec.model_uri'" in lines[0]
    for ref, says in (("nope", "registered models: churn"), ("churn@x", "has no alias 'x'"),
                      ("churn/9", "has no version 9")):
        code, lines = cli("models", "show", ref)
        assert code == 2 and len(lines) == 1 and says in lines[0], (ref, lines)
    assert _runs(env) == before


@pytest.mark.slow  # several core processes on an embedded store: the extras job
def test_offline_run_registers_on_sync_exactly_once(tmp_path, env):
    done = _train(tmp_path, env, "--offline", "--register", "churn@champion", "--json")
    assert done.returncode == 0, done.stderr
    run_dir = Path(json.loads(done.stdout)["run_dir"])
    assert read_summary(run_dir)["registered"] == {"name": "churn", "version": None, "alias": "champion",
                                                   "error": None}
    synced = run_cli(["sync", run_dir.name], env)
    assert synced.returncode == 0, synced.stderr
    assert "registered: churn v1 @champion" in synced.stdout
    assert read_summary(run_dir)["registered"]["version"] == "1"

    # Killed after MLflow made the version, before the journal heard: the resend finds it, makes none.
    journal = Journal(run_dir)
    journal.mark_sent(journal.register["seq"] - 1)
    journal.state["sent_seq"] = journal.register["seq"] - 1
    journal.state.pop("registered")
    (run_dir / "tracking" / "state.json").write_text(json.dumps(journal.state))
    again = run_cli(["sync", run_dir.name], env)
    assert again.returncode == 0 and "1 model registration" in again.stdout, again.stdout
    listed = json.loads(run_cli(["models", "list", "--json"], env).stdout)
    assert [(r["version"], r["aliases"]) for r in listed] == [("1", ["champion"])]


@pytest.mark.slow  # several core processes on an embedded store: the extras job
def test_a_run_killed_after_it_finished_registers_on_sync(tmp_path, env):
    """Killed after journaling its FINISHED outcome, before its end and registration: sync does both."""
    done = _train(tmp_path, env, "--offline", "--register", "churn", "--json")
    run_dir = Path(json.loads(done.stdout)["run_dir"])
    journal_path = run_dir / "tracking" / "journal.jsonl"
    lines = journal_path.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if '"op":"outcome"' in line)
    journal_path.write_text("".join(lines[:cut + 1]))  # what a kill right after the outcome leaves
    synced = run_cli(["sync", run_dir.name], env)
    assert synced.returncode == 0, synced.stderr
    assert read_summary(run_dir)["registered"] == {"name": "churn", "version": "1", "alias": None, "error": None}


# -- a real MLflow server, and MLflow's scoring server ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.xdist_group("mlflow_server")
def test_register_and_alias_on_a_real_server(tmp_path, cli_env, tiny_site, migrated_store):
    pytest.importorskip("flask", reason="a real MLflow server needs full mlflow: pip install 'mlcore[ui]'")
    from mlflow_server import MlflowServer

    server = MlflowServer(tmp_path / "server", template=migrated_store / "mlflow.db")
    server.start()
    try:
        env = dict(cli_env, CORE_TRACKING_URI=server.uri)
        env["PYTHONPATH"] = os.pathsep.join([str(tiny_site), env["PYTHONPATH"]])
        for score in (0.7, 0.9):
            done = _train(tmp_path, env, "--register", "churn@champion", score=score)
            assert done.returncode == 0, done.stderr
        scored = run_cli(["run", str(_score_spec(tmp_path, "models:/churn@champion")), "--json"], env)
        assert scored.returncode == 0, scored.stderr
        assert json.loads(scored.stdout)["outputs"]["weights"] == "0.9"
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=server.uri)
        assert client.get_model_version_by_alias("churn", "champion").version == "2"
        assert len(client.search_model_versions("name='churn'")) == 2
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.xdist_group("mlflow_server")
def test_core_models_serve_answers_invocations(tmp_path, env):
    pytest.importorskip("flask", reason="MLflow's scoring server needs full mlflow: pip install 'mlcore[ui]'")
    pytest.importorskip("pandas")
    from mlflow_server import free_port

    assert _train(tmp_path, env, "--register", "doubler@champion", model="pyfunc").returncode == 0
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "core", "models", "serve", "models:/doubler@champion",
                              "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1):
                    break
            except OSError:
                assert serve.poll() is None and time.time() < deadline, serve.communicate(timeout=5)
                time.sleep(0.5)
        body = json.dumps({"dataframe_records": [{"x": 1.5}, {"x": -2.0}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read()) == {"predictions": [3.0, -4.0]}
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
    with pytest.raises(OSError):  # the whole server stopped with it: nothing holds the port
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)


def test_core_models_serve_without_full_mlflow_names_the_extra(monkeypatch):
    from importlib import metadata

    from core._commands import models_cmd
    from core._errors import MissingExtra

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(models_cmd.metadata, "version", missing)
    with pytest.raises(MissingExtra, match=r"pip install -e \".*\[ui\]\""):
        models_cmd.serve_command(type("Args", (), {"uri": "models:/x@y", "port": 5001})())


def test_help_texts_name_the_forms():
    done = subprocess.run([sys.executable, "-m", "core", "models", "serve", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "models:/NAME@ALIAS" in done.stdout and "/invocations" in done.stdout
    text = textwrap.dedent(subprocess.run([sys.executable, "-m", "core", "run", "--help"], capture_output=True,
                                          text=True).stdout)
    assert "--register NAME[@ALIAS]" in text


@pytest.mark.slow
def test_sklearn_classifier_trains_registers_and_scores_from_the_alias(tmp_path, mlflow_env):
    """End to end with a family's own MLflow Model: train with --register, score with models:/NAME@ALIAS."""
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")
    data = "data: {source: synthetic, n_samples: 300, n_features: 6, n_informative: 3}"
    train = write_spec(tmp_path / "train.yaml", f"plugin: sklearn_classifier\nseed: 1\ndata_spec:\n  {data}\n"
                       "  model: {type: random_forest, n_estimators: 10, max_depth: 4}\n")
    done = run_cli(["run", str(train), "--register", "churn@champion", "--json"], mlflow_env, timeout=300)
    assert done.returncode == 0, done.stderr
    trained = json.loads(done.stdout)
    assert trained["registered"] == {"name": "churn", "version": "1", "alias": "champion", "error": None}
    score = write_spec(tmp_path / "score.yaml", "plugin: sklearn_classifier\nseed: 2\ndata_spec:\n  pipeline: score\n"
                       f"  score: {{model_uri: 'models:/churn@champion'}}\n  {data}\n")
    scored = run_cli(["run", str(score), "--json"], mlflow_env, timeout=300)
    assert scored.returncode == 0, scored.stderr
    tags = read_summary(Path(json.loads(scored.stdout)["run_dir"]))["tags"]
    assert tags["source_model_uri"] == "models:/churn@champion" and tags["source_model_version"] == "1"
    assert tags["source_run_id"] == trained["run_id"]
