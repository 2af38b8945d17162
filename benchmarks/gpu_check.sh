#!/usr/bin/env bash
# The GPU check of issue 19, as one command on a CUDA machine with the extras installed
# (pip install torch==<a CUDA build> && pip install -e ".[all]"); at most 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export MLFLOW_DISABLE_TELEMETRY=true
exec timeout 300 python benchmarks/gpu_check.py "$@"
