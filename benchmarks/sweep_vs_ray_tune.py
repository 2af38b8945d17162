"""Benchmark: the same sklearn configurations (random forests on scikit-learn's bundled breast
cancer data) through `core sweep --executor ray` and through Ray Tune with its MLflow integration
(`ray.air.integrations.mlflow.MLflowLoggerCallback`, `save_artifact=True`), both on the same Ray head
and against the same `mlflow server --serve-artifacts`, all on 127.0.0.1, in the same run.

The configurations come from the sweep file itself (`core sweep --dry-run --json`), so Tune runs
exactly the same values (`tune.grid_search` over them). Both drivers are fresh processes; both run
`--workers` trials at once (1 CPU each, on a head with that many CPUs). Reported: wall time of each
(end to end, and the ratio core/Tune), and what each left in MLflow: runs and their statuses, a
parent run and children, params per run, and artifact files on the server per run.

    python benchmarks/sweep_vs_ray_tune.py [--runs 100] [--workers 2] [--trees 50] [--tune-first]

Everything it starts (the server, the Ray head) is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SWEEP = """plugin: sklearn_classifier
experiment: bench-core
data_spec:
  data: {{source: builtin, name: breast_cancer}}
  model: {{type: random_forest, n_estimators: {trees}, n_jobs: 1}}
  split: {{train: 0.6, val: 0.2, test: 0.2}}
sweep:
  name: vs-tune
  seed: 11
  metric: test_accuracy
  mode: max
  random:
    count: {runs}
    params:
      seed: {{int: [0, 1000]}}
      data_spec.model.max_depth: {{int: [2, 12]}}
      data_spec.model.min_samples_leaf: {{choice: [1, 2, 5]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, and its children, by its pid."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=20)


def start_server(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(tmp / "mlflow-server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                             f"sqlite:///{tmp / 'server.db'}", "--serve-artifacts", "--artifacts-destination",
                             str(tmp / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "2"], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600  # a loaded machine: minutes
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"mlflow server exited: {(tmp / 'mlflow-server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=1):
                return proc, uri
        except OSError:
            time.sleep(0.3)
    stop_group(proc)
    sys.exit("mlflow server did not become healthy")


def start_ray_head(tmp: Path, cpus: int, env: dict[str, str]) -> tuple[subprocess.Popen, str, Path]:
    """`ray start --head --block` on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0), its own temp dir."""
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="mlbench", dir="/tmp"))  # short: Ray's socket paths have a limit
    ray = str(Path(sys.executable).with_name("ray"))
    log = open(tmp / "ray-head.log", "ab")
    proc = subprocess.Popen([ray, "start", "--head", "--block", "--disable-usage-stats", "--node-ip-address",
                             "127.0.0.1", f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false",
                             f"--temp-dir={temp_dir}"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    address = f"127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"ray start exited: {(tmp / 'ray-head.log').read_text()[-2000:]}")
        status = subprocess.run([ray, "status", f"--address={address}"], env=env, capture_output=True, text=True)
        if status.returncode == 0 and "Active:" in status.stdout:
            return proc, address, temp_dir
        time.sleep(1)
    stop_group(proc)
    sys.exit("the Ray head did not start")


def configs(spec: Path, env: dict[str, str]) -> list[dict]:
    """The sweep's runs as `core sweep --dry-run --json` expands them: Tune gets exactly these."""
    proc = subprocess.run([sys.executable, "-m", "core", "sweep", str(spec), "--dry-run", "--json"], env=env,
                          capture_output=True, text=True, check=True)
    return [{"seed": r["overrides"]["seed"], "max_depth": r["overrides"]["data_spec.model.max_depth"],
             "min_samples_leaf": r["overrides"]["data_spec.model.min_samples_leaf"]} for r in json.loads(proc.stdout)]


def run_core(spec: Path, root: Path, address: str, uri: str, workers: int, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "core", "sweep", str(spec), "--executor", "ray", "--ray-address",
                           address, "--tracking-uri", uri, "--max-workers", str(workers), "--artifact-root", str(root),
                           "--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"core sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def run_tune(cfgs: Path, storage: Path, address: str, uri: str, workers: int, trees: int,
             env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--tune-driver", str(cfgs), "--storage", str(storage),
                           "--address", address, "--tracking-uri", uri, "--workers", str(workers),
                           "--trees", str(trees)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"the Ray Tune driver failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def tune_driver(args: argparse.Namespace) -> None:
    """The peer, as its documentation shows it: a function trainable, `tune.report`, the MLflow logger
    callback on the driver (it logs each trial's params and results, and its trial folder as artifacts)."""
    import ray
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    trees = args.trees

    def trainable(config: dict) -> None:
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import train_test_split

        cfg = config["cfg"]
        x, y = load_breast_cancer(return_X_y=True)
        x_train, x_rest, y_train, y_rest = train_test_split(x, y, train_size=0.6, random_state=cfg["seed"],
                                                            stratify=y)
        x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, train_size=0.5, random_state=cfg["seed"],
                                                        stratify=y_rest)
        model = RandomForestClassifier(n_estimators=trees, max_depth=cfg["max_depth"],
                                       min_samples_leaf=cfg["min_samples_leaf"], random_state=cfg["seed"], n_jobs=1)
        model.fit(x_train, y_train)
        tune.report({"val_accuracy": model.score(x_val, y_val), "test_accuracy": model.score(x_test, y_test)})

    ray.init(address=args.address, log_to_driver=False, include_dashboard=False)
    space = {"cfg": tune.grid_search(json.loads(Path(args.tune_driver).read_text()))}
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}), param_space=space,
        tune_config=tune.TuneConfig(metric="test_accuracy", mode="max", max_concurrent_trials=args.workers),
        run_config=tune.RunConfig(name="vs-core", storage_path=args.storage, verbose=0, callbacks=[
            MLflowLoggerCallback(tracking_uri=args.tracking_uri, experiment_name="bench-tune", save_artifact=True)]))
    grid = tuner.fit()
    errors = sum(1 for r in grid if r.error)
    print(json.dumps({"trials": len(grid), "errors": errors}))
    ray.shutdown()


def mlflow_view(uri: str, experiment: str) -> dict:
    """What a sweep left in MLflow: runs, statuses, parent and children, params and artifact files per run."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=5000) if exp else []
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    parents = {r.data.tags["mlflow.parentRunId"] for r in children}

    def files(run_id: str, path: str = "") -> int:
        count = 0
        for item in client.list_artifacts(run_id, path or None):
            count += files(run_id, item.path) if item.is_dir else 1
        return count

    trials = children or runs
    sample = trials[: min(5, len(trials))]
    return {"runs": len(runs), "statuses": dict(Counter(r.info.status for r in runs)),
            "parent_runs": len(parents), "children": len(children),
            "params_per_run": sum(len(r.data.params) for r in trials) / max(1, len(trials)),
            "metrics_per_run": sum(len(r.data.metrics) for r in trials) / max(1, len(trials)),
            "artifact_files_per_run": sum(files(r.info.run_id) for r in sample) / max(1, len(sample))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--tune-first", action="store_true", help="run Tune before core (default: core first)")
    parser.add_argument("--tune-driver", help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--tracking-uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tune_driver:
        tune_driver(args)
        return
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", CORE_PROGRESS="0", RAY_DISABLE_USAGE_STATS="1",
               RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    env.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="vs-tune") as name:
        tmp = Path(name)
        spec = tmp / "sweep.yaml"
        spec.write_text(SWEEP.format(trees=args.trees, runs=args.runs))
        cfgs = tmp / "configs.json"
        cfgs.write_text(json.dumps(configs(spec, env)))
        server, uri = start_server(tmp, env)
        # The head's workers keep run folders under the node's own root (CORE_ARTIFACT_ROOT), as on a cluster.
        head, address, ray_dir = start_ray_head(tmp, args.workers, {**env, "CORE_ARTIFACT_ROOT": str(tmp / "node-root")})
        try:
            order = ["tune", "core"] if args.tune_first else ["core", "tune"]
            walls = {}
            for which in order:
                if which == "core":
                    walls["core"] = run_core(spec, tmp / "driver-root", address, uri, args.workers, env)
                else:
                    walls["tune"] = run_tune(cfgs, tmp / "tune-storage", address, uri, args.workers, args.trees, env)
            views = {"core": mlflow_view(uri, "bench-core"), "tune": mlflow_view(uri, "bench-tune")}
        finally:
            stop_group(head)
            stop_group(server)
            shutil.rmtree(ray_dir, ignore_errors=True)
    print(f"{args.runs} configurations (random forest, {args.trees} trees, breast_cancer 569 x 30), {args.workers} at "
          f"once on a local Ray head with {args.workers} CPUs, one mlflow server (--serve-artifacts); "
          f"{os.cpu_count()} CPUs; order: {' then '.join(order)}")
    print(f"core sweep --executor ray   {walls['core']:7.1f} s  ({walls['core'] / args.runs:.2f} s per config)")
    print(f"Ray Tune + MLflowLogger     {walls['tune']:7.1f} s  ({walls['tune'] / args.runs:.2f} s per config)")
    print(f"ratio core / Tune: {walls['core'] / walls['tune']:.2f}")
    print("in MLflow:")
    for which, view in views.items():
        print(f"  {which:<5} {json.dumps(view)}")


if __name__ == "__main__":
    main()
