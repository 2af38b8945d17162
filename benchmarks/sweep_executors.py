"""Benchmark: 8 CPU-bound sklearn runs of a couple of seconds each as one sweep, with the
`sequential` executor, the `process` executor (2 workers) and the `ray` executor (a local Ray,
2 CPUs), each as a fresh `core sweep` process on the same machine, in the same run.

Reports wall time, the speed-up over sequential, and Ray's start-up separately (the time
`ray.init()` took inside the sweep, from its results.json). Each sweep gets its own
artifact root whose MLflow store already exists (made by one small run first, in-process), as it
would after a user's first run: creating a store is a one-time cost, not the executor's.

`--service off|on|both`: the sweeps with the local tracking service off (every process opens MLflow
and the store itself: before issue 18) and on (the driver starts one service, cold, that the parent
run and every run go through), `both` interleaved (off, then on, for each executor) so the
machine's load drifts over both alike; each speed-up is over the sequential sweep of the same mode.
The machine's load (`os.getloadavg`) is printed before and after.

    python benchmarks/sweep_executors.py [--runs 8] [--workers 2] [--trees 150] [--no-ray]
                                         [--service off|on|both] [--repeat 1] [--no-model]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
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
  log_model: {log_model}
sweep:
  name: bench
  metric: test_accuracy
  grid:
    seed: {seeds}
"""


def init_store(root: Path, env: dict[str, str]) -> None:
    """The root's store made by one small run, in-process: a sweep with the service on starts it itself."""
    spec = root / "init.yaml"
    root.mkdir(parents=True)
    spec.write_text("plugin: sklearn_classifier\ndata_spec: {data: {source: synthetic, n_samples: 100}, plots: false}\n")
    subprocess.run([sys.executable, "-m", "core", "run", str(spec), "--artifact-root", str(root)],
                   env=dict(env, CORE_TRACKING_SERVICE="off"), check=True, capture_output=True)


def stop_services(root: Path, env: dict[str, str]) -> None:
    """The root's tracking service stopped (its socket is in the root, removed with the temp folder)."""
    subprocess.run([sys.executable, "-m", "core", "tracking", "stop", "--artifact-root", str(root)], env=env,
                   check=False, capture_output=True)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


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


def median_of(tries: list[tuple[float, dict]]) -> tuple[float, float, float, float]:
    """Medians of end to end, runs phase, a run's own time, and the executor's start-up."""
    return (statistics.median(w for w, _ in tries), statistics.median(o["runs_phase_s"] for _, o in tries),
            statistics.median(o["mean_run_s"] for _, o in tries), statistics.median(o["startup_s"] for _, o in tries))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trees", type=int, default=150)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--service", choices=("off", "on", "both"), default="both",
                        help="the local tracking service off, on, or both interleaved (default: both)")
    parser.add_argument("--repeat", type=int, default=1, help="sweeps per executor and mode; medians reported")
    parser.add_argument("--no-model", action="store_true", help="runs log no MLflow Model (log_model: false)")
    args = parser.parse_args()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_LOGGING_LEVEL="WARNING", CORE_PROGRESS="0",
               RAY_DISABLE_USAGE_STATS="1")
    executors = ["sequential", "process"]
    if not args.no_ray and importlib.util.find_spec("ray"):
        executors.append("ray")
    modes = ["off", "on"] if args.service == "both" else [args.service]
    results: dict[tuple[str, str], list[tuple[float, dict]]] = {}
    print(f"load average at start: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "sweep.yaml"
        spec.write_text(SWEEP.format(trees=args.trees, seeds=list(range(args.runs)),
                                     log_model="false" if args.no_model else "true"))
        for attempt in range(args.repeat):
            for name in executors:
                for mode in modes:
                    root = Path(tmp) / f"{name}-{mode}-{attempt}"
                    init_store(root, env)
                    mode_env = dict(env, CORE_TRACKING_SERVICE=mode)
                    try:
                        results.setdefault((name, mode), []).append(sweep(name, spec, root, args.workers, mode_env))
                    finally:
                        stop_services(root, mode_env)
    print(f"load average at end: {load()}")
    one_run = median_of(results[("sequential", modes[0])])[2]
    print(f"{args.runs} runs, random forest with {args.trees} trees on 6000 x 30 rows"
          f"{', no MLflow Model' if args.no_model else ''}; {os.cpu_count()} CPUs; a run takes {one_run:.1f} s on its "
          f"own; median of {args.repeat}")
    print("service  executor    end to end           first run start to last run end")
    for mode in modes:
        base, base_phase, _, _ = median_of(results[("sequential", mode)])
        for name in executors:
            wall, phase, _, startup = median_of(results[(name, mode)])
            extra = f"   (Ray start-up {startup:.1f} s; x{base / (wall - startup):4.2f} without it)" if name == "ray" else ""
            print(f"{mode:<8} {name:<11} {wall:6.2f} s  x{base / wall:4.2f}     {phase:6.2f} s  "
                  f"x{base_phase / phase:4.2f}{extra}")


if __name__ == "__main__":
    main()
