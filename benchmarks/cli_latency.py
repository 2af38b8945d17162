"""Benchmark (issue 18, item 5): the wall time of the cheap commands, against Python's own floor.

Each sample is a fresh process of the `core` program (the console script beside this Python, else
`python -m core`): `core --help`, `core plugins list` (plugin cache warm, and with an empty cache
directory each time: the entry-point scan and every plugin module imported, what it cost before the
cache), `core runs list` on an empty artifact root and on one of --runs runs. The floor is measured in
the same run: `python -c pass` and `python -c "import core"`. Commands are interleaved round by round
(so a burst of load on the shared machine hits them all alike); each figure is the median of --repeat.

    python benchmarks/cli_latency.py [--repeat 9] [--runs 200] [--baseline DIR]

`--baseline DIR`: a source tree of an earlier mlcore (`git archive COMMIT | tar -x -C DIR`); each
`core` command then also runs with DIR first on PYTHONPATH, interleaved with the others, and the table
gives each command's time under both (the ratio is the change).

The run folders are copies of one real run (a no-op plugin logging 3 params and 5 metrics, memory
tracking), each with its own run id in its summary: `core runs list` reads them as it reads any.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _timing import wall_and_cpu as timed  # benchmarks/ is the script's folder, first on sys.path

TARGET_S = 0.15


def make_runs(root: Path, count: int) -> None:
    """`count` run folders in `root`: one real run, copied under new run ids (newest last)."""
    from core import Plugin, PluginInfo, RunResult, RunSpec
    from core._registry import Registry
    from core._runner import new_run_id, run

    class Noop(Plugin):
        info = PluginInfo(key="noop", description="logs a little", version="1.0")

        def run(self, spec, *, context):
            context.tracking.log_params({"a": 1, "b": "two", "c": 3.0})
            for i in range(5):
                context.tracking.log_metric(f"test_m{i}", i / 10)
            return RunResult(outputs={"test_m0": 0.0})

    outcome = run(RunSpec(plugin="noop"), artifact_root=root, tracking_uri="memory",
                  registry=Registry({"noop": Noop}))
    template = outcome.run_dir
    start = datetime.now(timezone.utc) - timedelta(days=1)
    for i in range(count - 1):
        run_id = new_run_id(start + timedelta(seconds=i))
        copy = template.parent / run_id
        shutil.copytree(template, copy)
        summary = copy / "summary" / "run_summary.json"
        data = json.loads(summary.read_text())
        data["run_id"] = run_id
        summary.write_text(json.dumps(data, indent=2))


def core_command() -> list[str]:
    script = Path(sys.executable).parent / "core"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "core"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--baseline", type=Path, default=None, help="an earlier mlcore source tree to compare with")
    args = parser.parse_args()
    core = core_command()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        many, empty = tmp / "many", tmp / "empty"
        make_runs(many, args.runs)
        empty.mkdir()
        base = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", XDG_CACHE_HOME=str(tmp / "cache"),
                    CORE_TRACKING_URI="memory")
        cases = {
            "python -c pass": ([sys.executable, "-c", "pass"], base),
            'python -c "import core"': ([sys.executable, "-c", "import core"], base),
            "core --help": ([*core, "--help"], base),
            "core plugins list": ([*core, "plugins", "list"], base),
            "core plugins list (no cache)": ([*core, "plugins", "list"], None),
            "core runs list (no runs)": ([*core, "runs", "list", "--artifact-root", str(empty)], base),
            f"core runs list ({args.runs} runs)": ([*core, "runs", "list", "--artifact-root", str(many)], base),
        }
        if args.baseline is not None:
            old = os.pathsep.join([str(args.baseline.resolve()), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            for name, (cmd, _env) in list(cases.items()):
                if name.startswith("core") and "no cache" not in name:
                    cases[f"{name} [baseline]"] = (cmd, dict(base, PYTHONPATH=old))
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        timed(cases["core plugins list"][0], base)  # fills the cache, as any earlier command would have
        for i in range(args.repeat):
            for name, (cmd, env) in cases.items():
                env = env if env is not None else dict(base, XDG_CACHE_HOME=str(tmp / f"cold-cache{i}"))
                wall, used = timed(cmd, env)
                times[name].append(wall)
                cpu[name].append(used)
    median = {name: statistics.median(samples) for name, samples in times.items()}
    cpu_median = {name: statistics.median(samples) for name, samples in cpu.items()}
    floor, with_core = median["python -c pass"], median['python -c "import core"']
    print(f"{' '.join(core)}: fresh processes, interleaved, median of {args.repeat} "
          f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    print(f"{'command':<32} {'wall s':>7} {'min s':>6} {'CPU s':>6} {'x floor':>8} {'x import core':>14}  target (wall)")
    for name, value in median.items():
        verdict = "" if not name.startswith("core") or "no cache" in name else (
            "ok" if value <= TARGET_S else f"over {TARGET_S}")
        print(f"{name:<32} {value:>7.3f} {min(times[name]):>6.3f} {cpu_median[name]:>6.3f} {value / floor:>8.2f} "
              f"{value / with_core:>14.2f}  {verdict}")
    cold, warm = median["core plugins list (no cache)"], median["core plugins list"]
    print(f"plugins list: cache x{cold / warm:.2f} faster ({cold - warm:.3f} s saved)")
    for name in [n for n in median if n.endswith(" [baseline]")]:
        now = name.removesuffix(" [baseline]")
        print(f"{now}: baseline {median[name]:.3f} s -> {median[now]:.3f} s wall (x{median[name] / median[now]:.2f}), "
              f"CPU {cpu_median[name]:.3f} -> {cpu_median[now]:.3f} s (x{cpu_median[name] / cpu_median[now]:.2f})")


if __name__ == "__main__":
    main()
