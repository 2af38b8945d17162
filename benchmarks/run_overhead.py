"""Benchmark (issue 18): what `core run` costs a no-op plugin, with the tracking service warm, cold and
off, against a bare MLflow script doing the same; and what 10,000 step metrics add to a run.

The plugin (defined here, installed into a temporary folder as a distribution with an entry point,
as a user's would be) logs 3 params, 5 metrics and one small file, plus `data_spec.steps` step
metrics. The bare script does the same with `MlflowClient` on an existing SQLite store: create a run,
log params and metrics (`log_batch`), one artifact, terminate. Each sample is a fresh process; the
cases are interleaved round by round (so a burst of load on a shared machine hits them all alike),
and each figure is the median of --repeat.

- warm: `core run`, the artifact root's service already up (the usual case: any earlier run started it)
- cold: `core run` just after `core tracking stop` (not timed): the run starts the service and waits
  for it to import MLflow and open the store
- off: `core run` with `CORE_TRACKING_SERVICE=off`: MLflow imported and the store opened in the run
- fresh store: `core run` into a new artifact root (service on): a new store, made from the migrated
  template in the cache (made once by the set-up run), served by the process already serving the main
  root's store (one process serves several local stores: a new project while another's service is up)
- fresh store, no service up: the same with every service stopped first (not timed): a new process
  imports MLflow and opens the new store, as the cold case
- with --metrics N (default 10,000; 0 skips): the warm, off and bare cases again, each logging N step
  metrics; "added" is the difference of the medians. And, with --work S (default 5; 0 skips), a warm
  run whose plugin spends S seconds (sleeping, as a training loop computes) with and without the N
  points spread over them: what metrics cost a run that does something between its points

CPU is user + system time of the timed process and its waited-for children; a run through the
service also makes the service work, and that CPU (read from /proc before and after) is shown
beside it. After timing, every run is checked: FINISHED, nothing pending, and its MLflow run holds
each metric point exactly once.

    python benchmarks/run_overhead.py [--repeat 5] [--metrics 10000] [--work 5] [--no-fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import wall_and_cpu  # benchmarks/ is the script's folder, first on sys.path

from core._tracking import default_target

PLUGIN = '''
import time

from core import Plugin, PluginInfo, RunResult


class Noop(Plugin):
    info = PluginInfo(key="overhead_noop", description="logs 3 params, 5 metrics, one small file")

    def run(self, spec, *, context):
        tracking = context.tracking
        tracking.log_params({"model.a": 1, "model.b": "two", "model.c": 3.0})
        tracking.log_metrics({f"test_m{i}": i / 10 for i in range(5)})
        # `steps` points, in 100 slices with a pause after each when the run is to last `work_s` seconds
        # (the time a training loop would spend computing between its points)
        steps, work_s = int(spec.data_spec.get("steps", 0)), float(spec.data_spec.get("work_s", 0))
        slices = 100 if work_s else 1
        for i in range(slices):
            for step in range(i * steps // slices, (i + 1) * steps // slices):
                tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
            if work_s:
                time.sleep(work_s / slices)
        path = context.artifact_dir / "out" / "small.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("small")
        tracking.log_artifact(path, artifact_path="out")
        return RunResult()
'''

BARE = '''
import os, sys, tempfile
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

uri, steps = sys.argv[1], int(sys.argv[2])
client = MlflowClient(uri)
exp = client.get_experiment_by_name("bare")
run = client.create_run(exp.experiment_id, run_name="bare")
rid = run.info.run_id
client.log_batch(rid, params=[Param("model.a", "1"), Param("model.b", "two"), Param("model.c", "3.0")],
                 metrics=[Metric(f"test_m{i}", i / 10, 0, 0) for i in range(5)])
points = [Metric("train_loss", 1.0 / (s + 1), 0, s) for s in range(steps)]
for i in range(0, steps, 1000):
    client.log_batch(rid, metrics=points[i:i + 1000])
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "small.txt")
    with open(path, "w") as fh:
        fh.write("small")
    client.log_artifact(rid, path, "out")
client.set_terminated(rid)
'''

MAKE_BARE_STORE = '''
import os, sys
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
from mlflow import MlflowClient
MlflowClient(sys.argv[1]).create_experiment("bare", artifact_location=sys.argv[2])
'''


def install_plugin(site: Path) -> None:
    """The plugin as an installed distribution: a module and a dist-info naming its entry point."""
    site.mkdir(parents=True)
    (site / "overhead_plugin.py").write_text(PLUGIN)
    info = site / "overhead_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: overhead-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mlcore.plugins]\noverhead_noop = overhead_plugin:Noop\n")


def core_command() -> list[str]:
    script = Path(sys.executable).parent / "core"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "core"]


def service_pids(root: Path) -> list[int]:
    pids = []
    for path in (root / "tracking-service").glob("*.json"):
        try:
            pids.append(int(json.loads(path.read_text())["pid"]))
        except (OSError, ValueError, KeyError):
            continue
    return pids


def cpu_of(pid: int) -> float:
    """User + system seconds of a live process so far (Linux /proc); 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, tmp: Path, metrics: int, work_s: float) -> None:
        self.tmp = tmp
        self.core = core_command()
        site = tmp / "site"
        install_plugin(site)
        pythonpath = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", XDG_CACHE_HOME=str(tmp / "cache"),
                        PYTHONPATH=pythonpath, CORE_TRACKING_SERVICE="on", CORE_TRACKING_SERVICE_IDLE="900")
        self.env.pop("CORE_TRACKING_URI", None)
        self.root = tmp / "root"
        self.spec = self._spec("noop.yaml", 0)
        self.spec_n = self._spec("steps.yaml", metrics)
        self.spec_work = self._spec("work.yaml", 0, work_s)
        self.spec_work_n = self._spec("work-steps.yaml", metrics, work_s)
        self.bare_script = tmp / "bare.py"
        self.bare_script.write_text(BARE)
        self.bare_uri = f"sqlite:///{tmp / 'bare' / 'mlflow.db'}"
        self.fresh_roots: list[Path] = []
        #: (artifact root, metric points each run of it logged) of every timed run, checked at the end
        self.expected: dict[Path, list[int]] = {}

    def _spec(self, name: str, steps: int, work_s: float = 0.0) -> Path:
        path = self.tmp / name
        path.write_text(f"plugin: overhead_noop\ndata_spec: {{steps: {steps}, work_s: {work_s}}}\n")
        return path

    def set_up(self) -> None:
        """The stores made (the first core run also keeps the migrated template in the cache) and the
        service started; none of it timed."""
        (self.tmp / "bare").mkdir()
        subprocess.run([sys.executable, "-c", MAKE_BARE_STORE, self.bare_uri, (self.tmp / "bare" / "art").as_uri()],
                       check=True, env=self.env)
        self.bare(0)
        self.run(self.root, self.spec, 0)

    def run(self, root: Path, spec: Path, steps: int, *, service: bool = True) -> tuple[float, float, float]:
        """One `core run`: (wall, its CPU, the service's CPU during it)."""
        env = dict(self.env, CORE_ARTIFACT_ROOT=str(root))
        if not service:
            env["CORE_TRACKING_SERVICE"] = "off"
        # A new root's store may be served by the process already serving the main root's (one process
        # serves several local stores): its CPU is counted from before the run, as any service's.
        before = {pid: cpu_of(pid) for pid in {*service_pids(root), *service_pids(self.root)}}
        wall, cpu = wall_and_cpu([*self.core, "run", str(spec)], env)
        after = {pid: cpu_of(pid) for pid in {*service_pids(root), *service_pids(self.root)}}
        served = sum(used - before.get(pid, 0.0) for pid, used in after.items())
        self.expected.setdefault(root, []).append(steps)
        return wall, cpu, served

    def bare(self, steps: int) -> tuple[float, float, float]:
        wall, cpu = wall_and_cpu([sys.executable, str(self.bare_script), self.bare_uri, str(steps)], self.env)
        return wall, cpu, 0.0

    def stop_services(self, root: Path) -> None:
        subprocess.run([*self.core, "tracking", "stop", "--artifact-root", str(root)], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def cold(self) -> tuple[float, float, float]:
        self.stop_services(self.root)
        return self.run(self.root, self.spec, 0)

    def fresh(self, i: int, name: str = "fresh") -> tuple[float, float, float]:
        root = self.tmp / f"{name}{i}"
        self.fresh_roots.append(root)
        try:
            return self.run(root, self.spec, 0)
        finally:
            self.stop_services(root)

    def fresh_alone(self, i: int) -> tuple[float, float, float]:
        self.stop_services(self.root)
        try:
            return self.fresh(i, "fresh-alone")
        finally:
            self.run(self.root, self.spec, 0)  # not timed: the main root's service up again for the next case

    def check(self) -> list[str]:
        """Every timed run FINISHED, nothing pending, each metric point in MLflow exactly once."""
        problems = []
        for root, steps in self.expected.items():
            runs = sorted((root / "runs").iterdir())
            if len(runs) != len(steps):
                problems.append(f"{root}: {len(runs)} run folders for {len(steps)} runs")
                continue
            with sqlite3.connect(default_target(root).sqlite_path) as db:
                for run_dir, n in zip(runs, steps):
                    summary = json.loads((run_dir / "summary" / "run_summary.json").read_text())
                    tracking = summary["tracking"]
                    rows = db.execute("SELECT key, step, COUNT(*) FROM metrics WHERE run_uuid = ? GROUP BY key, step",
                                      (tracking["run_id"],)).fetchall()
                    status = db.execute("SELECT status FROM runs WHERE run_uuid = ?", (tracking["run_id"],)).fetchone()
                    twice = [r for r in rows if r[2] != 1]
                    if summary["status"] != "FINISHED" or tracking["pending"] or status != ("FINISHED",):
                        problems.append(f"{run_dir.name}: {summary['status']}, {tracking['pending']} pending, "
                                        f"MLflow {status}")
                    if len(rows) != 5 + n or twice:
                        problems.append(f"{run_dir.name}: {len(rows)} metric points for {5 + n}, {len(twice)} twice")
        return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--metrics", type=int, default=10_000, help="step metrics of the metrics cases (0: none)")
    parser.add_argument("--work", type=float, default=5.0,
                        help="seconds of a run's own work the metrics are spread over, in the spread cases (0: none)")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh-store cases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.metrics, args.work)
        try:
            bench.set_up()
            cases = {
                "bare MLflow script": lambda i: bench.bare(0),
                "core run, service warm": lambda i: bench.run(bench.root, bench.spec, 0),
                "core run, service cold": lambda i: bench.cold(),
                "core run, service off": lambda i: bench.run(bench.root, bench.spec, 0, service=False),
            }
            if not args.no_fresh:
                cases["core run, fresh store"] = bench.fresh
                cases["fresh store, no service up"] = bench.fresh_alone
            if args.metrics:
                n = f"{args.metrics:,}"
                cases[f"bare + {n} metrics"] = lambda i: bench.bare(args.metrics)
                cases[f"warm + {n} metrics"] = lambda i: bench.run(bench.root, bench.spec_n, args.metrics)
                cases[f"off + {n} metrics"] = lambda i: bench.run(bench.root, bench.spec_n, args.metrics,
                                                                  service=False)
                if args.work:
                    cases[f"warm, {args.work:g} s of work"] = lambda i: bench.run(bench.root, bench.spec_work, 0)
                    cases[f"warm + {n} over it"] = lambda i: bench.run(bench.root, bench.spec_work_n, args.metrics)
            samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
            loads = [os.getloadavg()[0]]
            for i in range(args.repeat):
                for name, case in cases.items():
                    samples[name].append(case(i))
                loads.append(os.getloadavg()[0])
            problems = bench.check()
        finally:
            bench.stop_services(bench.root)
            for root in bench.fresh_roots:
                bench.stop_services(root)
    report(samples, args, loads, problems)


def report(samples: dict[str, list[tuple[float, float, float]]], args: argparse.Namespace, loads: list[float],
           problems: list[str]) -> None:
    med = {name: tuple(statistics.median(s[k] for s in rows) for k in range(3)) for name, rows in samples.items()}
    bare_wall, bare_cpu, _ = med["bare MLflow script"]
    print(f"fresh processes, interleaved, median of {args.repeat}; load average {min(loads):.2f} to "
          f"{max(loads):.2f} on {os.cpu_count()} CPUs")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: modules without a cached .pyc are compiled in every process")
    print(f"{'case':<28} {'wall s':>7} {'min s':>6} {'CPU s':>6} {'service CPU s':>14} {'x bare wall':>12} "
          f"{'x bare CPU':>11}")
    for name, (wall, cpu, served) in med.items():
        low = min(s[0] for s in samples[name])
        print(f"{name:<28} {wall:>7.3f} {low:>6.3f} {cpu:>6.3f} {served:>14.3f} {wall / bare_wall:>12.2f} "
              f"{cpu / bare_cpu:>11.2f}")
    warm, cold = med["core run, service warm"][0], med["core run, service cold"][0]
    print(f"targets: warm {warm:.3f} s <= 0.4 s: {verdict(warm <= 0.4)}; warm x{warm / bare_wall:.2f} bare <= 0.2: "
          f"{verdict(warm <= 0.2 * bare_wall)}; cold {cold:.3f} s <= bare {bare_wall:.3f} s: "
          f"{verdict(cold <= bare_wall)}", end="")
    if "core run, fresh store" in med:
        fresh = med["core run, fresh store"][0]
        print(f"; fresh store {fresh:.3f} s <= 1.5 s: {verdict(fresh <= 1.5)} (with no service up: "
              f"{med['fresh store, no service up'][0]:.3f} s)")
    else:
        print()
    if args.metrics:
        n = f"{args.metrics:,}"
        for label, with_n, without in (("service warm", f"warm + {n} metrics", "core run, service warm"),
                                       ("service off", f"off + {n} metrics", "core run, service off"),
                                       ("bare script", f"bare + {n} metrics", "bare MLflow script")):
            added = med[with_n][0] - med[without][0]
            target = f" (target <= 0.5 s: {verdict(added <= 0.5)})" if label == "service warm" else ""
            print(f"{n} step metrics add, {label}: {added:.3f} s wall, "
                  f"{med[with_n][1] + med[with_n][2] - med[without][1] - med[without][2]:.3f} s CPU{target}")
        if args.work:
            with_n, without = med[f"warm + {n} over it"], med[f"warm, {args.work:g} s of work"]
            added = with_n[0] - without[0]
            print(f"{n} step metrics spread over {args.work:g} s of a run's work add, service warm: {added:.3f} s "
                  f"wall, {with_n[1] + with_n[2] - without[1] - without[2]:.3f} s CPU "
                  f"(target <= 0.5 s: {verdict(added <= 0.5)})")
    print("checked: every run FINISHED, nothing pending, each metric point stored exactly once" if not problems
          else "PROBLEMS:\n  " + "\n  ".join(problems))
    if problems:
        sys.exit(1)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
