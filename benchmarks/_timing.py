"""Shared by the benchmarks: time a fresh process."""

from __future__ import annotations

import os
import subprocess
import time


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of `cmd` run to completion (output discarded; a failure raises)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def wall_and_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system, its waited-for children included) of `cmd` run to
    completion, output discarded; a failure raises. The CPU time is what the wall time would be on an
    idle machine, less any waiting: on a machine shared with other jobs it is the steadier of the two."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime
