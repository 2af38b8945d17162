"""A real `mlflow server` for tests: 127.0.0.1, a free port, one worker, stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """`template`: an empty SQLite store already migrated by this MLflow (conftest's `migrated_store`),
    copied as the server's database: a new one costs every alembic migration (5 s of a CPU alone, far
    more on a loaded CI machine, where a start once ran past its bound)."""

    def __init__(self, workdir: Path, port: int | None = None, template: Path | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.template = template
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{self.workdir / 'server.db'}",
                "--artifacts-destination", str(self.workdir / "artifacts"),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]

    def _seed_database(self) -> None:
        db = self.workdir / "server.db"
        if self.template is None or db.exists():
            return
        shutil.copyfile(self.template, db)
        # The Default experiment's artifacts go where a new server's would: through the server.
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("UPDATE experiments SET artifact_location = 'mlflow-artifacts:/0' WHERE experiment_id = 0")
            conn.commit()

    # Generous: a start is a few seconds of a CPU, but a CI machine running four test workers on two
    # cores once took more than 90 s. Waiting longer costs nothing when the server is up sooner.
    def start(self, timeout: float = 300) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._seed_database()
        log = open(self.workdir / "server.log", "ab")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn's children stop with it
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.workdir / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        log_tail = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"mlflow server did not become healthy in {timeout:.0f} s; its log ends:\n{log_tail}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
