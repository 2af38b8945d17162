"""Benchmark: 8 CPU-bound sklearn runs of a couple of seconds each as one sweep, with the
`sequential` executor, the `process` executor (2 workers) and the `ray` executor (a local Ray,
2 CPUs), each as a fresh `core sweep` process on the same machine, in the same run.

Reports wall time, the speed-up over sequential, and Ray's start-up separately (the time
`ray.init()` took inside the sweep, from its results.json). Each executor gets its own
artifact root whose MLflow store already exists (made by one small run first), as it would
after a user's first run: creating a store is a one-time cost, not the executor's.

    python benchmarks/sweep_executors.py [--runs 8] [--workers 2] [--trees 150] [--no-ray]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

SWEEP = """plugin: sklearn_classifier
data_spec:
  data: {{source: synthetic, n_samples: 6000, n_features: 30, n_informative: 10}}
  model: {{type: random_forest, n_estimators: {trees}, n_jobs: 1}}
  plots: false
sweep:
  name: bench
  metric: test_accuracy
  grid:
    seed: {seeds}
"""


def init_store(root: Path, env: dict[str, str]) -> None:
    spec = root / "init.yaml"
    root.mkdir(parents=True)
    spec.write_text("plugin: sklearn_classifier\ndata_spec: {data: {source: synthetic, n_samples: 100}, plots: false}\n")
    subprocess.run([sys.executable, "-m", "core", "run", str(spec), "--artifact-root", str(root)], env=env,
                   check=True, capture_output=True)


def sweep(executor: str, spec: Path, root: Path, workers: int, env: dict[str, str]) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "core", "sweep", str(spec), "--executor", executor, "--json",
           "--artifact-root", str(root)]
    if executor != "sequential":
        cmd += ["--max-workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{executor} sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    summaries = [json.loads((Path(r["run_dir"]) / "summary" / "run_summary.json").read_text()) for r in out["runs"]]
    first = min(datetime.fromisoformat(s["started_at"].replace("Z", "+00:00")) for s in summaries)
    last = max(datetime.fromisoformat(s["ended_at"].replace("Z", "+00:00")) for s in summaries)
    out["runs_phase_s"] = (last - first).total_seconds()  # first run's start to last run's end
    out["mean_run_s"] = sum(s["duration_s"] for s in summaries) / len(summaries)
    return wall, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trees", type=int, default=150)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_LOGGING_LEVEL="WARNING", CORE_PROGRESS="0",
               RAY_DISABLE_USAGE_STATS="1")
    executors = ["sequential", "process"]
    if not args.no_ray and importlib.util.find_spec("ray"):
        executors.append("ray")
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "sweep.yaml"
        spec.write_text(SWEEP.format(trees=args.trees, seeds=list(range(args.runs))))
        for name in executors:
            init_store(Path(tmp) / name, env)
        results = {name: sweep(name, spec, Path(tmp) / name, args.workers, env) for name in executors}
    base = results["sequential"][0]
    base_phase = results["sequential"][1]["runs_phase_s"]
    print(f"{args.runs} runs, random forest with {args.trees} trees on 6000 x 30 rows; {os.cpu_count()} CPUs; "
          f"a run takes {results['sequential'][1]['mean_run_s']:.1f} s on its own")
    print("executor    end to end           first run start to last run end")
    for name, (wall, out) in results.items():
        extra = f"   (Ray start-up {out['startup_s']:.1f} s)" if name == "ray" else ""
        phase = out["runs_phase_s"]
        print(f"{name:<11} {wall:6.2f} s  x{base / wall:4.2f}     {phase:6.2f} s  x{base_phase / phase:4.2f}{extra}")
    if "ray" in results:
        wall, out = results["ray"]
        print(f"ray without its start-up: {wall - out['startup_s']:.2f} s, speed-up x{base / (wall - out['startup_s']):.2f}")


if __name__ == "__main__":
    main()
