"""Issue 18, item 3: a new embedded store is a copy of an empty, migrated one kept in the user's cache
(made once per MLflow version), not a fresh run of every migration; a template MLflow refuses is
dropped and the store made as before."""

import sqlite3
from pathlib import Path

import pytest

from core import Plugin, PluginInfo, RunContext, RunResult, RunSpec
from core._runner import run
from core._tracking import store_template
from core.testing import Registry


class Note(Plugin):
    info = PluginInfo(key="note")

    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        context.tracking.log_metric("train_loss", 0.5, step=1)
        return RunResult()


REGISTRY = Registry({"note": Note})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mlcore" / "stores"


def _run(root: Path):
    outcome = run(RunSpec(plugin="note"), artifact_root=root, registry=REGISTRY)
    assert outcome.status.value == "FINISHED" and outcome.summary.tracking.pending == 0, outcome.error
    return outcome


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / "mlflow" / "mlflow.db")


def test_the_first_new_store_is_kept_and_the_next_is_a_copy_of_it(tmp_path, cache):
    _run(tmp_path / "a")
    templates = list(cache.glob("schema-*.db"))
    assert len(templates) == 1
    with sqlite3.connect(templates[0]) as kept:  # empty: MLflow's default experiment and nothing else
        assert kept.execute("SELECT count(*) FROM runs").fetchone() == (0,)
        assert kept.execute("SELECT experiment_id FROM experiments").fetchall() == [(0,)]
    second = _run(tmp_path / "b")
    with _db(tmp_path / "b") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        location = db.execute("SELECT artifact_location FROM experiments WHERE experiment_id = 0").fetchone()[0]
    assert str(tmp_path / "b") in location  # this store's own, not the template's
    assert second.summary.tracking.run_id and list(cache.glob("schema-*.db")) == templates


def test_a_template_mlflow_refuses_is_dropped_and_the_store_made_anew(tmp_path, cache):
    _run(tmp_path / "a")
    (template,) = cache.glob("schema-*.db")
    with sqlite3.connect(template) as kept:  # as if another build of this version had made it
        kept.execute("UPDATE alembic_version SET version_num = 'not-a-revision'")
    _run(tmp_path / "b")
    with _db(tmp_path / "b") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    with sqlite3.connect(store_template.template_path(store_template.schema_head())) as kept:  # made again
        assert kept.execute("SELECT version_num FROM alembic_version").fetchone() != ("not-a-revision",)


def test_a_copy_mlflow_refuses_loses_nothing_and_the_template_is_dropped(tmp_path, cache, monkeypatch):
    """The revision matches but MLflow refuses the copy (a damaged file): the run goes on journaling, the
    template and the copy are dropped, and `core sync` (a new process) makes the store and sends it all."""
    import json
    import subprocess
    import sys

    _run(tmp_path / "a")
    from core._tracking.mlflow_backend import MlflowTracking

    def refuse(self):
        raise RuntimeError("damaged")

    with monkeypatch.context() as m:
        m.setattr(MlflowTracking, "open_store", refuse)
        outcome = run(RunSpec(plugin="note"), artifact_root=tmp_path / "b", registry=REGISTRY)
    assert outcome.status.value == "FINISHED" and outcome.summary.tracking.pending > 0
    assert not list(cache.glob("schema-*.db")) and not (tmp_path / "b" / "mlflow" / "mlflow.db").exists()
    synced = subprocess.run([sys.executable, "-m", "core", "sync", "--artifact-root", str(tmp_path / "b"), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)[0]["pending"] == 0
    with _db(tmp_path / "b") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
