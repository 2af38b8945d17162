"""Shared fixtures for core's tests. Core tests need only core installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock

from core._tracking import default_target

HERE = Path(__file__).parent
EXT_SRC = HERE / "ext_pkg"

# Telemetry off and MLflow quiet in every process a test starts.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

# The local tracking service is off in every process a test starts, unless the test turns it on
# (tests/test_tracking_service.py does, and stops what it started by pid): each test has its own
# artifact root, so a service per test would never be shared, would outlive the test by its idle time,
# and would hide the in-process path that `CORE_TRACKING_SERVICE=off` and every fallback take.
os.environ["CORE_TRACKING_SERVICE"] = "off"

# The user's cache stays out of the tests: core keeps an empty migrated store there
# (`$XDG_CACHE_HOME/mlcore/stores`, core._tracking.store_template), which a test must neither depend on
# nor change. Every process a test starts (plugin tests included) gets a cache of this test process's
# own (one per pytest-xdist worker), removed at the end; pip's download cache stays the user's.
_USER_CACHE = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
os.environ.setdefault("PIP_CACHE_DIR", os.path.join(_USER_CACHE, "pip"))
_TEST_CACHE = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mlcore-tests-cache-")


def pytest_unconfigure(config):
    shutil.rmtree(_TEST_CACHE, ignore_errors=True)  # in every pytest-xdist worker too (atexit is not run there)

# The test plugin package is importable in-process; entry points come from the
# pip-installed copy (`ext_site`) in subprocesses.
sys.path.insert(0, str(EXT_SRC))


def made_once(tmp_path_factory, name: str, make) -> Path:
    """A folder `make(folder)` fills, made once for the whole test run and then only read.

    Run serially, this session's own. Under pytest-xdist (the CI jobs run `pytest -n ...`), each
    worker is its own session; the first to get here makes it in the run's base temporary folder
    (shared by this run's workers only) under a file lock, the others wait for it and reuse it, as
    pytest-xdist's documentation recommends for expensive session fixtures."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # this run's basetemp; each worker's is a folder in it
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker that failed half-way left
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


def _pip_install_ext(target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(EXT_SRC)],
        check=True,
    )


# -- running in parallel (pytest-xdist) ---------------------------------------------------------------
# CI runs `pytest -n 4` with `--dist loadgroup` (pyproject's addopts): tests are spread over worker
# processes, except that tests marked `xdist_group(NAME)` all run on one worker, one after another.
# Mark a test with a group when it must not overlap others of its kind: "mlflow_server" (a real MLflow
# server, 20-30 s of start-up each), "many_processes" (eight processes at once, bounded in time).
# A module- or class-scoped fixture (a Ray cluster for a module, say) would be made once per worker
# that runs one of its tests, so its tests are grouped by module here, automatically.


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d and d[-1].scope in ("module", "class") for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def pytest_configure(config):
    """With -n and --dist loadgroup, pytest-xdist keeps a group on one worker by renaming each grouped
    test's `_nodeid` to `<id>@<group>`. A pytest whose nodeid ignores that field (pytest 9.2, with
    pytest-xdist 3.8) would run grouped tests side by side, silently: refuse to run instead."""
    if not config.getoption("numprocesses", None) or config.getoption("dist", "no") != "loadgroup":
        return
    from _pytest.nodes import Node

    probe = object.__new__(Node)
    probe._nodeid = "probe@group"
    try:
        renamed = probe.nodeid == "probe@group"
    except Exception:  # noqa: BLE001 - a nodeid made from other fields: the rename does nothing
        renamed = False
    if not renamed:
        raise pytest.UsageError(f"pytest-xdist's --dist loadgroup cannot group tests under pytest "
                                f"{pytest.__version__}: install the dev extra's pytest range (pyproject.toml)")


@pytest.fixture(scope="session")
def ext_site(tmp_path_factory) -> Path:
    """The third-party plugin package installed for real with pip, into its own folder."""
    return made_once(tmp_path_factory, "ext_site", _pip_install_ext)


@pytest.fixture
def cli_env(ext_site, tmp_path) -> dict[str, str]:
    """Environment for `core` subprocesses: the ext package on the path, runs under tmp, tracking
    to the in-memory recorder (`CORE_TRACKING_URI=memory`): the run folder, summary and journal
    are written in full, nothing goes to MLflow, and no process pays for importing MLflow or
    creating a store. A test that checks MLflow uses `mlflow_env` (or `fresh_store_env`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ext_site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["CORE_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    env["CORE_TRACKING_URI"] = "memory"
    return env


# -- the embedded MLflow store ------------------------------------------------------------------------
# Unset CORE_TRACKING_URI means the embedded store: `<artifact root>/mlflow/mlflow.db`, created and
# migrated (alembic) under a file lock by the first process that opens it, which then writes a
# `.ready` marker beside it (core._tracking.open_backend). The schema is made once per session and
# each test gets its own copy, marker included, so only the tests of first use pay for a migration.

_MAKE_STORE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from core._tracking import default_target, open_backend\n"
    "open_backend(default_target(Path(sys.argv[1]))).close()\n"
)


def _make_store(root: Path) -> None:
    # In a subprocess, as in real use; the cwd keeps MLflow's Default experiment path out of the repo.
    subprocess.run([sys.executable, "-c", _MAKE_STORE, str(root)], check=True, cwd=root)
    folder = default_target(root).lock_path.parent
    assert (folder / "mlflow.db").is_file() and list(folder.glob("*.ready")), sorted(folder.iterdir())


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory) -> Path:
    """The embedded store's folder as core makes it on first use (schema and `.ready` marker, no
    experiment: an experiment records its artifact folder, which must be the test's own). Made once
    per test run (`made_once`: one for all pytest-xdist workers); tests only copy it."""
    root = made_once(tmp_path_factory, "store_template", _make_store)
    return default_target(root).lock_path.parent


def copy_store(template: Path, artifact_root: Path) -> Path:
    """A private copy of the migrated store where the embedded default expects it in `artifact_root`."""
    folder = default_target(artifact_root).lock_path.parent
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("*.lock"))
    return folder


@pytest.fixture
def mlflow_env(cli_env, migrated_store, tmp_path) -> dict[str, str]:
    """`cli_env` tracking to the embedded MLflow store (no CORE_TRACKING_URI), already migrated."""
    env = dict(cli_env)
    env.pop("CORE_TRACKING_URI")
    copy_store(migrated_store, Path(env["CORE_ARTIFACT_ROOT"]))
    return env


@pytest.fixture
def fresh_store_env(cli_env) -> dict[str, str]:
    """`cli_env` tracking to the embedded MLflow store, with no store yet: the first `core` process
    creates and migrates it (what a user's first run does)."""
    env = dict(cli_env)
    env.pop("CORE_TRACKING_URI")
    return env


@pytest.fixture
def embedded_store(migrated_store, tmp_path) -> Path:
    """For in-process runs on `artifact_root=tmp_path` with no tracking URI: the migrated store
    copied into tmp_path; returns the artifact root."""
    copy_store(migrated_store, tmp_path)
    return tmp_path


def run_cli(args, env, *, cwd=None, timeout=300) -> subprocess.CompletedProcess:
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
