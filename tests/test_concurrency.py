"""Eight `core run` processes on a brand-new artifact root: all finish, nothing lost."""

import json
import subprocess
import sys

import pytest
from conftest import write_spec


@pytest.mark.slow
@pytest.mark.xdist_group("many_processes")  # never beside another eight-process test
def test_eight_simultaneous_runs_on_a_fresh_store(fresh_store_env, tmp_path):
    """Concurrent first use of the SQLite store is serialised: 8 FINISHED, every metric recorded."""
    spec = write_spec(tmp_path / "steps.yaml", "plugin: ext_steps\ndata_spec: {steps: 50}\n")
    procs = [
        subprocess.Popen([sys.executable, "-m", "core", "run", str(spec), "--json"], env=fresh_store_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert {r["status"] for r in results} == {"FINISHED"}
    assert all(r["tracking"]["pending"] == 0 for r in results), [r["tracking"] for r in results]

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'artifacts' / 'mlflow' / 'mlflow.db'}")
    for r in results:
        run = client.get_run(r["tracking"]["run_id"])
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 50
