"""How to install one of mlcore's extras into this environment: the hint every missing-extra error
gives (`core._errors.MissingExtra`, `core plugins list`). Standard library only, so the error
classes can use it without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DISTRIBUTION = "mlcore"


def install_hint(extra: str, *, missing: Iterable[str] = ()) -> str:
    """The command that installs mlcore's `extra` into this environment, from where this mlcore came
    from: its checkout (`pip install -e "/path/to/checkout[extra]"`), or the git URL it was installed
    from. Never a bare `pip install "mlcore[extra]"` when the source is known: `mlcore` on PyPI is
    another project. An extra that brings PyTorch says to install it first (an open range pulls a
    multi-GB CUDA build; the README's install notes pin it): `missing`, the modules found missing."""
    command = f'pip install {_install_target(extra)}'
    if "torch" in missing:
        command += " (PyTorch first: see the README)"
    return command


def _install_target(extra: str) -> str:
    import json
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[1]  # core/_install.py -> the checkout, for an editable install
    pyproject = checkout / "pyproject.toml"
    try:
        if pyproject.is_file() and re.search(rf'^name\s*=\s*"{DISTRIBUTION}"', pyproject.read_text(), re.MULTILINE):
            return f'-e "{checkout}[{extra}]"'
    except OSError:
        pass
    from importlib import metadata

    try:
        origin = json.loads(metadata.distribution(DISTRIBUTION).read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        origin = {}
    if origin.get("vcs_info") and origin.get("url"):
        return f'"{DISTRIBUTION}[{extra}] @ git+{origin["url"]}"'
    if str(origin.get("url", "")).startswith("file://"):
        return f'"{origin["url"][len("file://"):]}[{extra}]"'
    return f'"{DISTRIBUTION}[{extra}]"'
