"""Benchmark: the wall time logging an MLflow Model adds to a run, per family.

Each family's smoke example (`plugins/<key>/examples/smoke.yaml`) through `core run` on the
embedded SQLite store, as fresh processes, with `data_spec.log_model` true and false,
interleaved (on, off, off, on, ...) so drift in the machine's load hits both alike; one warm-up
pair first (the store's creation and the first imports are not counted). Reports the median
of each and their ratio (target for the sklearn examples: <= 1.15).

    python benchmarks/model_logging.py [--repeat 5] [--families sklearn_classifier,torch_mlp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import yaml
from _timing import timed  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("sklearn_classifier", "sklearn_regressor", "torch_mlp", "text_classifier")


def spec_file(folder: Path, key: str, log_model: bool) -> Path:
    spec = yaml.safe_load((ROOT / "plugins" / key / "examples" / "smoke.yaml").read_text(encoding="utf-8"))
    spec["data_spec"]["log_model"] = log_model
    if key in ("torch_mlp", "text_classifier"):
        spec["data_spec"].setdefault("train", {})["device"] = "cpu"  # the same device both ways
    path = folder / f"{key}-{'on' if log_model else 'off'}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    print(f"{'family':20} {'with model (s)':>15} {'without (s)':>12} {'extra (s)':>10} {'ratio':>7}")
    for key in args.families.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_LOGGING_LEVEL="WARNING",
                       CORE_ARTIFACT_ROOT=str(tmp / "artifacts"))
            env.pop("CORE_TRACKING_URI", None)
            specs = {flag: spec_file(tmp, key, flag) for flag in (True, False)}

            def once(flag: bool, env: dict[str, str] = env, specs: dict[bool, Path] = specs) -> float:
                return timed([sys.executable, "-m", "core", "run", str(specs[flag])], env)

            once(True), once(False)  # warm-up: the store is made, files are cached
            times: dict[bool, list[float]] = {True: [], False: []}
            for i in range(args.repeat):
                for flag in ((True, False) if i % 2 == 0 else (False, True)):
                    times[flag].append(once(flag))
            on, off = statistics.median(times[True]), statistics.median(times[False])
            print(f"{key:20} {on:15.2f} {off:12.2f} {on - off:10.2f} {on / off:7.3f}", flush=True)


if __name__ == "__main__":
    main()
