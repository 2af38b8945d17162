"""A real Ray cluster for tests: a head and more nodes on 127.0.0.1 only, each `ray start --block` in
its own process group and temporary folder, stopped by pid (never `ray stop`, which stops every Ray on
the machine, other people's too).

Every process gets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: Ray 2.60 then binds 127.0.0.1, not the
machine's address. Each node has its own `--temp-dir`, so its address file is not the machine's
`/tmp/ray/ray_current_cluster` and no `ray.init()` elsewhere joins it by accident.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow_server import free_port

RAY = str(Path(sys.executable).with_name("ray"))
#: `ray start` for a node that joins: Ray's command refuses to join a cluster when
#: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ("multi-node clusters are not supported on Windows and OSX"),
#: and without it takes the machine's address for the node (its raylet then listens on every
#: interface). So in this one process the check is lifted and the node's address is 127.0.0.1, as
#: the variable would make it; the node's own processes still get RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0.
JOIN = [sys.executable, "-c", "import sys; import ray._private.ray_constants as c; c.ENABLE_RAY_CLUSTER = True; "
        "import ray._private.services as s; s.resolve_ip_for_localhost = lambda host: host; "
        "s.get_node_ip_address = lambda address=None: '127.0.0.1'; "
        "from ray.scripts.scripts import main; sys.argv = ['ray', *sys.argv[1:]]; main()"]
#: what every Ray process started by a test, and every driver that talks to it, gets; token
#: authentication on, with a token of this test session's own (not the machine's ~/.ray/auth_token)
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_DISABLE_USAGE_STATS": "1",
           "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def node_pythonpath(*first: object) -> str:
    """PYTHONPATH for a node's processes: `first`, then this test process's own path, so the nodes import
    the same `core` as the test (a worktree's, not whatever the environment has installed)."""
    return os.pathsep.join(p for p in (*map(str, first), os.environ.get("PYTHONPATH", "")) if p)


#: how often a node whose `ray start` gave up is started again: Ray 2.60 waits a fixed 30 s for a new
#: raylet to register with the GCS ("The current node timed out during startup"), which a loaded CI
#: machine can exceed (it did: CI's extras job, the second node of the test bed)
START_ATTEMPTS = 3
STARTUP_TIMED_OUT = "timed out during startup"


class RayNode:
    def __init__(self, proc: subprocess.Popen, temp_dir: Path, log: Path) -> None:
        self.proc, self.temp_dir, self.log = proc, temp_dir, log
        self.attempts = 1
        self.restart = None  # set by RayCluster: starts the same node again, in place

    def children(self) -> list[tuple[int, str]]:
        """(pid, command name) of every process in the node's process group but `ray start` itself."""
        out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,comm="], capture_output=True, text=True).stdout
        found = []
        for line in out.splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3 and int(parts[1]) == self.proc.pid and int(parts[0]) != self.proc.pid:
                found.append((int(parts[0]), parts[2].strip()))
        return found

    def raylet_pid(self) -> int:
        pids = [pid for pid, name in self.children() if name == "raylet"]
        assert pids, f"no raylet in the node's group: {self.children()}"
        return pids[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:  # whatever of the group is still there (workers, a raylet that ignored SIGTERM)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class RayCluster:
    """`ray start --head` and any number of `ray start --address` nodes, all on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.nodes: list[RayNode] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, args: list[str], env: dict[str, str] | None, *, command: list[str] | None = None) -> RayNode:
        def launch() -> tuple[subprocess.Popen, Path, Path]:
            temp_dir = Path(tempfile.mkdtemp(prefix="mlray", dir="/tmp"))  # short: Ray's socket paths have a limit
            log = temp_dir / "start.log"
            full_env = {**os.environ, **RAY_ENV, **(env or {})}
            with open(log, "ab") as out:
                proc = subprocess.Popen([*(command or [RAY]), "start", "--block", "--disable-usage-stats",
                                         "--node-ip-address", "127.0.0.1", f"--temp-dir={temp_dir}", *args],
                                        env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            return proc, temp_dir, log

        node = RayNode(*launch())

        def restart() -> None:
            node.stop()  # what the failed start left in its process group
            shutil.rmtree(node.temp_dir, ignore_errors=True)
            node.proc, node.temp_dir, node.log = launch()
            node.attempts += 1

        node.restart = restart
        self.nodes.append(node)
        return node

    def start_head(self, *, num_cpus: int = 1, resources: dict[str, float] | None = None,
                   env: dict[str, str] | None = None) -> RayNode:
        node = self._start(["--head", f"--port={self.port}", f"--num-cpus={num_cpus}", "--include-dashboard=false",
                            *([f"--resources={json.dumps(resources)}"] if resources else [])], env)
        self.wait_for_nodes(1)
        return node

    def add_node(self, *, num_cpus: int = 1, resources: dict[str, float] | None = None,
                 env: dict[str, str] | None = None) -> RayNode:
        node = self._start([f"--address={self.address}", f"--num-cpus={num_cpus}",
                            *([f"--resources={json.dumps(resources)}"] if resources else [])], env, command=JOIN)
        self.wait_for_nodes(len(self.nodes))
        return node

    def wait_for_nodes(self, count: int, timeout: float = 120) -> None:
        """Until `count` nodes are alive in the cluster (asked with `ray status` against this address)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc.poll() is not None:
                    log = node.log.read_text()
                    if STARTUP_TIMED_OUT in log and node.attempts < START_ATTEMPTS:
                        node.restart()
                        deadline = time.monotonic() + timeout  # the new start's own time
                        continue
                    raise RuntimeError(f"ray start exited {node.proc.returncode} (attempt {node.attempts}): "
                                       f"{log[-3000:]}")
            proc = subprocess.run([RAY, "status", f"--address={self.address}"], capture_output=True, text=True,
                                  env={**os.environ, **RAY_ENV}, timeout=60)
            last = proc.stdout + proc.stderr
            if proc.returncode == 0 and _active_nodes(last) >= count:
                return
            time.sleep(1)
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes: {last[-2000:]}")

    def listening_addresses(self) -> set[str]:
        """The local addresses the cluster's processes listen on (TCP), from `ss`."""
        pids = {node.proc.pid for node in self.nodes} | {pid for node in self.nodes for pid, _ in node.children()}
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
        found = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 6 and any(f"pid={pid}," in parts[-1] for pid in pids):
                found.add(parts[3].rsplit(":", 1)[0])
        return found

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        for node in self.nodes:
            shutil.rmtree(node.temp_dir, ignore_errors=True)


def _active_nodes(status: str) -> int:
    """The number of lines under 'Active:' in `ray status` output."""
    lines = status.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Active:")
    except StopIteration:
        return 0
    count = 0
    for line in lines[start + 1:]:
        if not line.strip() or line.strip().endswith(":"):
            break
        count += 1
    return count
