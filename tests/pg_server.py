"""A PostgreSQL cluster of a test's own: Debian's `postgresql` binaries, `initdb` and `pg_ctl` run as
the `postgres` user, listening on 127.0.0.1 and a free port only (no Unix socket in a shared place),
trust authentication for local TCP, removed at the end. `why_not()` says why one cannot be had here
(the test then skips with that reason)."""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlflow_server import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres() -> list[str]:
    return [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]


def why_not() -> str | None:
    """None when a server can be started here, else the reason."""
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does it where it can)"
    if importlib.util.find_spec("psycopg2") is None:
        return "psycopg2 is not installed: pip install 'mlcore[postgres]'"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mlpg"))
        self.data = self.dir / "data"
        self.started = False

    @property
    def uri(self) -> str:
        """SQLAlchemy's URI for MLflow (SQLAlchemy 2.1 wants the driver named)."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/mlflow"

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*_as_postgres(), *args], capture_output=True, text=True, timeout=120, cwd=self.dir)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])}: exit {proc.returncode}: {proc.stderr[-2000:]}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir}"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"), "-w",
                  "-t", "60", "start")
        self.started = True
        self._run(_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "mlflow")

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.started:
            try:
                self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pid = self.pid()
                if pid:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
