"""Shared fixtures for core's tests. Core tests need only core installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
EXT_SRC = HERE / "ext_pkg"

# Telemetry off and MLflow quiet in every process a test starts.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

# The test plugin package is importable in-process; entry points come from the
# pip-installed copy (`ext_site`) in subprocesses.
sys.path.insert(0, str(EXT_SRC))


@pytest.fixture(scope="session")
def ext_site(tmp_path_factory) -> Path:
    """The third-party plugin package installed for real with pip, into its own folder."""
    target = tmp_path_factory.mktemp("ext_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(EXT_SRC)],
        check=True,
    )
    return target


@pytest.fixture
def cli_env(ext_site, tmp_path) -> dict[str, str]:
    """Environment for `core` subprocesses: the ext package on the path, runs under tmp."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ext_site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["CORE_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    env.pop("CORE_TRACKING_URI", None)
    return env


def run_cli(args, env, *, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_spec(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def only_run_dir(root: Path) -> Path:
    runs = sorted((root / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary" / "run_summary.json").read_text())
