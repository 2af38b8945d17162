"""What a run ran on: recorded in its summary so a result can be explained later."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from core._deps import extra_requirements, mlcore_version, package_versions
from core.contracts import PluginInfo


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD of the repository the run was started in, with '-dirty' if it has changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=3
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=3,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return f"{commit}-dirty" if status.stdout.strip() else commit


def describe_environment(info: PluginInfo) -> dict[str, Any]:
    packages = extra_requirements(info.extra) if info.extra else []
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "host": socket.gethostname(),
        "executable": sys.executable,
        "mlcore": mlcore_version(),
        "git_commit": git_commit(),
        "packages": package_versions(["mlflow-skinny", "mlflow", *packages]),
    }
