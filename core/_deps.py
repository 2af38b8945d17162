"""Optional dependencies: check without importing, import with a clear fix.

Every plugin imports its heavy libraries through `require`, so a missing extra
always reads the same: ``caller requires 'sklearn', which is not installed:
pip install -e "/path/to/mlcore[sklearn]"`` (`install_hint`: where this mlcore came from).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterable
from types import ModuleType

from core._errors import MissingExtra

DISTRIBUTION = "mlcore"


def require(module: str, *, extra: str | None, caller: str) -> ModuleType:
    """Import `module` or raise `MissingExtra` naming the caller and the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only a missing `module` (or its top-level package) is a missing extra;
        # a missing module *inside* an installed package is a real bug to surface.
        if exc.name and module.split(".")[0] == exc.name.split(".")[0]:
            raise MissingExtra(caller=caller, module=module, extra=extra) from None
        raise


def is_installed(module: str) -> bool:
    """True when `module` can be imported; does not import it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(modules: Iterable[str]) -> list[str]:
    return [m for m in modules if not is_installed(m)]


def extra_requirements(extra: str) -> list[str]:
    """Distribution names that mlcore's `extra` pulls in, read from installed metadata."""
    return requirements(DISTRIBUTION, extra, only_extra=True)


def requirements(dist: str, extra: str | None = None, *, only_extra: bool = False) -> list[str]:
    """Distribution names `dist` requires: its base requirements (unless `only_extra`) and those
    of `extra`, with self-references such as `mlcore[sklearn,ui]` expanded."""
    from importlib import metadata  # here, not above: it costs `import core` ~40 ms (email, zipfile)

    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return []
    names = []
    for req in requires:
        name, _, rest = req.partition(";")
        marker = rest.strip()
        in_extra = bool(extra) and re.search(rf"""extra\s*==\s*["']{re.escape(extra)}["']""", marker)
        if ("extra" in marker and not in_extra) or (only_extra and not in_extra):
            continue
        base = re.split(r"[\s<>=!~\[(]", name.strip(), maxsplit=1)[0]
        inner = re.search(r"\[([^\]]+)\]", name)
        if normalize_name(base) == normalize_name(dist) and inner:
            for sub in inner.group(1).split(","):
                names += requirements(dist, sub.strip(), only_extra=True)
        else:
            names.append(base)
    return names


def install_hint(extra: str, *, missing: Iterable[str] | None = None) -> str:
    """The command that installs mlcore's `extra` into this environment, from where this mlcore came
    from: its checkout (`pip install -e "/path/to/checkout[extra]"`), or the git URL it was installed
    from. Never a bare `pip install "mlcore[extra]"` when the source is known: `mlcore` on PyPI is
    another project. An extra that brings PyTorch says to install it first (an open range pulls a
    multi-GB CUDA build; the README's install notes pin it). `missing`: the extra's modules not
    installed, when the caller knows them (no distribution metadata read: `core plugins list`)."""
    command = f'pip install {_install_target(extra)}'
    needs_torch = "torch" in missing if missing is not None else "torch" in extra_requirements(extra)
    if needs_torch and not is_installed("torch"):
        command += " (PyTorch first: see the README)"
    return command


def _install_target(extra: str) -> str:
    import json
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[1]  # core/_deps.py -> the checkout, for an editable install
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


def normalize_name(name: str) -> str:
    """A distribution name as pip compares them: `Scikit_Learn` == `scikit-learn`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution, None where it is absent."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def mlcore_version() -> str:
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
