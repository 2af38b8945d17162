"""Where runs go: the artifact root and the tracking URI, from flags or the environment."""

from __future__ import annotations

import os
from pathlib import Path

ARTIFACT_ROOT_ENV = "CORE_ARTIFACT_ROOT"
TRACKING_URI_ENV = "CORE_TRACKING_URI"
DEFAULT_ARTIFACT_ROOT = "./artifacts"


def artifact_root(flag: str | os.PathLike[str] | None = None) -> Path:
    """Flag, else $CORE_ARTIFACT_ROOT, else ./artifacts; always absolute (workers may run elsewhere)."""
    value = flag or os.environ.get(ARTIFACT_ROOT_ENV) or DEFAULT_ARTIFACT_ROOT
    return Path(value).expanduser().resolve()


def tracking_uri(flag: str | None = None) -> str | None:
    """Flag, else $CORE_TRACKING_URI, else None (the embedded store in the artifact root)."""
    return flag or os.environ.get(TRACKING_URI_ENV) or None


def runs_dir(root: Path) -> Path:
    return root / "runs"
