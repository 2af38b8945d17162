"""Benchmark: 10,000 step metrics through mlcore's tracking handle vs per-call MlflowClient.log_metric.

Both write to a fresh MLflow SQLite store of the same kind, in the same process
and run of this script (the tracking service off: `core run` sends from the run's process). Prints both times, the ratio, and checks that all
points are present afterwards.

    python benchmarks/tracking_log_metrics.py [--n 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
# in this process, as the bare loop: no tracking service left behind serving a deleted temporary store
# (benchmarks/run_overhead.py measures the service)
os.environ.setdefault("CORE_TRACKING_SERVICE", "off")


def bare_mlflow(root: Path, n: int) -> tuple[float, int]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'bare.db'}")
    exp = client.create_experiment("bench", artifact_location=(root / "bare-art").as_uri())
    run = client.create_run(exp)
    start = time.perf_counter()
    for step in range(n):
        client.log_metric(run.info.run_id, "train_loss", 1.0 / (step + 1), step=step)
    client.set_terminated(run.info.run_id)
    elapsed = time.perf_counter() - start
    return elapsed, len(client.get_metric_history(run.info.run_id, "train_loss"))


def through_mlcore(root: Path, n: int) -> tuple[float, int]:
    from core import Plugin, PluginInfo, RunResult, RunSpec
    from core._registry import Registry
    from core._runner import run

    timing: dict[str, float] = {}

    class Loop(Plugin):
        info = PluginInfo(key="loop")

        def run(self, spec, *, context):
            start = time.perf_counter()
            for step in range(n):
                context.tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
            context.tracking.flush()
            timing["loop"] = time.perf_counter() - start
            return RunResult()

    outcome = run(RunSpec(plugin="loop"), artifact_root=root / "mlcore", registry=Registry({"loop": Loop}))
    from mlflow import MlflowClient

    tracking = outcome.summary.tracking
    client = MlflowClient(tracking.uri)
    return timing["loop"], len(client.get_metric_history(tracking.run_id, "train_loss"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ours, ours_count = through_mlcore(root, args.n)
        bare, bare_count = bare_mlflow(root, args.n)
    print(f"metrics logged:                     {args.n}")
    print(f"mlcore handle (batched, journaled): {ours:8.3f} s  ({ours_count} stored)")
    print(f"MlflowClient.log_metric per call:   {bare:8.3f} s  ({bare_count} stored)")
    print(f"speed-up:                           {bare / ours:8.1f}x")
    assert ours_count == bare_count == args.n, "points were lost"


if __name__ == "__main__":
    main()
