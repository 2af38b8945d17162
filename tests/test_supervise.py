"""`core run` supervises its run in a child process (core/_supervise.py): on a real terminal, Ctrl-C
reaches the run once, not once from the terminal and again from the supervising parent."""

import json
import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest
from conftest import write_spec

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "fork"), reason="the supervisor forks (POSIX)")]


def _read_all(fd: int, until: float) -> bytes:
    out = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            out += chunk
    return out


def test_ctrl_c_on_a_terminal_interrupts_the_run_once(cli_env, tmp_path):
    """Ctrl-C typed on the terminal ends the run KILLED and lets the plugin's clean-up finish."""
    spec = write_spec(tmp_path / "s.yaml", "plugin: ext_slow_cleanup\n")
    runs = Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs"
    pid, fd = pty.fork()
    if pid == 0:  # the terminal's foreground process: `core run`, as a user starts it
        os.execve(sys.executable, [sys.executable, "-m", "core", "run", str(spec)], cli_env)
    try:
        deadline = time.monotonic() + 60
        journal = None
        while time.monotonic() < deadline:
            found = list(runs.glob("*/tracking/journal.jsonl")) if runs.is_dir() else []
            if found and "train_loss" in found[0].read_text():
                journal = found[0]
                break
            _read_all(fd, time.monotonic() + 0.1)
        assert journal is not None, "the run never started"
        os.write(fd, b"\x03")  # the terminal sends SIGINT to its whole foreground process group
        output = _read_all(fd, time.monotonic() + 30)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    run_dir = journal.parent.parent
    summary = json.loads((run_dir / "summary" / "run_summary.json").read_text())
    assert summary["status"] == "KILLED", output.decode(errors="replace")
    assert summary["error"]["message"] == "interrupted by SIGINT"
    assert (run_dir / "models" / "cleanup.txt").read_text() == "done", "a second SIGINT cut the clean-up short"
    assert os.waitstatus_to_exitcode(status) == 130
