"""`core ui`: MLflow's web UI on the runs' store, or a clear message naming the `ui` extra."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import metadata

import pytest
from conftest import run_cli


def _has_full_mlflow() -> bool:
    try:
        metadata.version("mlflow")
        return True
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(_has_full_mlflow(), reason="full mlflow is installed (extras job)")
def test_ui_without_the_extra_says_what_to_install(mlflow_env):
    """Exit 2 and the pip command that installs the ui extra from this checkout, in one line."""
    from pathlib import Path

    proc = run_cli(["ui"], mlflow_env)
    assert proc.returncode == 2
    checkout = Path(__file__).resolve().parents[1]
    assert f'pip install -e "{checkout}[ui]"' in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.xdist_group("mlflow_server")  # a real MLflow server: one at a time under pytest-xdist
@pytest.mark.skipif(not _has_full_mlflow(), reason="needs full mlflow: pip install 'mlcore[ui]'")
def test_ui_serves_the_embedded_store_says_the_url_once_it_answers_and_a_sigterm_frees_the_port(fresh_store_env,
                                                                                                tmp_path):
    """`core ui --port P` serves the embedded store (made on first use) on 127.0.0.1:P. Issue 21: the URL is
    printed only once the server answers, and SIGTERM to `core ui` alone (not its group) stops MLflow's
    server too: the port is free again and no server process is left. (One test, one server start: each
    start takes 20-30 s of a CPU.)"""
    from mlflow_server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "core", "ui", "--port", str(port)], env=fresh_store_env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        assert first.startswith("starting MLflow's UI for "), first
        deadline = time.time() + 120
        for line in proc.stderr:
            if f"MLflow UI at http://127.0.0.1:{port}" in line:
                break
            assert time.time() < deadline and proc.poll() is None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            assert resp.status == 200  # answering when the URL was printed
        assert (tmp_path / "artifacts" / "mlflow" / "mlflow.db").exists()  # the embedded store, made for it
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        with socket.socket() as sock:
            # SO_REUSEADDR: connections in TIME_WAIT do not count; a server still listening does
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # nothing listens on the port any more
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
