"""Shared by the benchmarks: time a fresh process."""

from __future__ import annotations

import subprocess
import time


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of `cmd` run to completion (output discarded; a failure raises)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start
