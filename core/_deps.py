"""Optional dependencies: check without importing, import with a clear fix.

Every plugin imports its heavy libraries through `require`, so a missing extra
always reads the same: ``caller requires 'sklearn', which is not installed:
pip install -e "/path/to/mlcore[sklearn]"`` (`core._install.install_hint`: from where this mlcore came from).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterable
from types import ModuleType

from core._errors import MissingExtra
from core._install import DISTRIBUTION


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
