"""Where runs go: the artifact root and the tracking URI, from flags or the environment."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from core._errors import BadInput

ARTIFACT_ROOT_ENV = "CORE_ARTIFACT_ROOT"
TRACKING_URI_ENV = "CORE_TRACKING_URI"
DEFAULT_ARTIFACT_ROOT = "./artifacts"


def artifact_root(flag: str | os.PathLike[str] | None = None) -> Path:
    """Flag, else $CORE_ARTIFACT_ROOT, else ./artifacts; always absolute (workers may run elsewhere)."""
    value = flag or os.environ.get(ARTIFACT_ROOT_ENV) or DEFAULT_ARTIFACT_ROOT
    try:
        return Path(value).expanduser().resolve()
    except RuntimeError:  # Python < 3.13 says "Symlink loop from ..." this way
        raise BadInput(f"artifact root '{value}' cannot be used: it lies in a symlink loop") from None
    except OSError as exc:
        reason = "it lies in a symlink loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise BadInput(f"artifact root '{value}' cannot be used: {reason}") from None


def tracking_uri(flag: str | None = None) -> str | None:
    """Flag, else $CORE_TRACKING_URI, else None (the embedded store in the artifact root)."""
    return flag or os.environ.get(TRACKING_URI_ENV) or None


STRICT_NAMES_ENV = "CORE_STRICT_NAMES"


def strict_names(flag: bool | None = None) -> bool:
    """`--strict-names`, else $CORE_STRICT_NAMES (1/true/yes): naming-convention slips become errors."""
    if flag is not None:
        return flag
    return os.environ.get(STRICT_NAMES_ENV, "").strip().lower() in ("1", "true", "yes", "on")
