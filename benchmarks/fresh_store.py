"""Benchmark (issue 18, item 3): making a new embedded store, with and without the migrated template.

Each sample is a fresh process that opens a brand-new artifact root's store and creates core's
experiment in it (what the first run in a new root does before its plugin starts); without a template
MLflow runs every migration, with one the store is a copy. Interleaved, median of --repeat.

    python benchmarks/fresh_store.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import timed  # benchmarks/ is the script's folder, first on sys.path

OPEN = """
import sys
from pathlib import Path
from core._tracking import open_backend, prepare_experiment, resolve_target
target = resolve_target(None, artifact_root=Path(sys.argv[1]))
prepare_experiment(open_backend(target), target, "mlcore")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        script = tmp / "open.py"
        script.write_text(OPEN)
        base = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
        kept = dict(base, XDG_CACHE_HOME=str(tmp / "kept-cache"))
        timed([sys.executable, str(script), str(tmp / "first")], kept)  # makes the template
        for i in range(args.repeat):
            cold.append(timed([sys.executable, str(script), str(tmp / f"cold{i}")],
                              dict(base, XDG_CACHE_HOME=str(tmp / f"empty-cache{i}"))))
            warm.append(timed([sys.executable, str(script), str(tmp / f"warm{i}")], kept))
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"new store, median of {args.repeat} fresh processes: migrations {c:.2f} s, template copy {w:.2f} s "
          f"(x{c / w:.1f} faster, {c - w:.2f} s saved)")


if __name__ == "__main__":
    main()
