"""Discover, list and load plugins through the `mlcore.plugins` entry-point group.

Built-in plugins register through the same group as third-party ones. Listing
imports each plugin's light `plugin.py` (never its heavy helpers); a plugin
whose module fails to import is reported and skipped when listing, and fails
loudly, with the reason, when a run asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from importlib import metadata

from core._deps import missing_modules
from core._errors import PluginLoadError, PluginNotFound
from core.contracts import Plugin, PluginInfo

ENTRY_POINT_GROUP = "mlcore.plugins"


@dataclass(frozen=True, slots=True)
class PluginEntry:
    """One registered plugin as listing sees it. `error` is set when it failed to load."""

    key: str
    target: str  # "package.module:Class"
    distribution: str | None
    version: str | None
    info: PluginInfo | None = None
    error: str | None = None

    @property
    def missing(self) -> list[str]:
        return missing_modules(self.info.requires) if self.info else []

    @property
    def extra_installed(self) -> bool:
        return not self.missing


class Registry:
    """Plugins by key. `Registry()` reads entry points; tests pass a mapping of classes."""

    def __init__(self, classes: Mapping[str, type[Plugin]] | None = None) -> None:
        self._classes = dict(classes) if classes is not None else None
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def keys(self) -> list[str]:
        if self._classes is not None:
            return sorted(self._classes)
        return sorted(self._eps())

    def load(self, key: str) -> type[Plugin]:
        """The plugin class for `key`; raises `PluginNotFound` or `PluginLoadError`."""
        if self._classes is not None:
            if key not in self._classes:
                raise self._not_found(key)
            return self._classes[key]
        ep = self._eps().get(key)
        if ep is None:
            raise self._not_found(key)
        cls = _load_entry_point(ep)
        info = getattr(cls, "info", None)
        if info is not None and info.version is None and ep.dist is not None:
            # Versions come from the distribution that registered the plugin,
            # so a plugin cannot drift from what pip reports.
            cls.info = replace(info, version=ep.dist.version)
        return cls

    def create(self, key: str) -> Plugin:
        cls = self.load(key)
        try:
            return cls()
        except Exception as exc:  # noqa: BLE001 - a constructor's failure is the plugin's, reported as bad input
            raise PluginLoadError(f"plugin '{key}' could not be created: {type(exc).__name__}: {exc}") from None

    def entries(self) -> Iterator[PluginEntry]:
        """Every registered plugin, loaded far enough to read its `info`; failures are kept."""
        yield from (self.entry(key) for key in self.keys())

    def entry(self, key: str) -> PluginEntry:
        """One registered plugin as `entries` reports it, loading only that one."""
        if self._classes is not None:
            cls = self.load(key)
            return PluginEntry(key, f"{cls.__module__}:{cls.__qualname__}", None, cls.info.version, cls.info)
        ep = self._eps().get(key)
        if ep is None:
            raise self._not_found(key)
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        try:
            info = self.load(key).info
        except PluginLoadError as exc:
            return PluginEntry(key, ep.value, dist, version, error=str(exc))
        return PluginEntry(key, ep.value, dist, info.version or version, info)

    def _eps(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            found: dict[str, metadata.EntryPoint] = {}
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                # Editable installs can surface one distribution twice; the first wins.
                found.setdefault(ep.name, ep)
            self._entry_points = found
        return self._entry_points

    def _not_found(self, key: str) -> PluginNotFound:
        installed = ", ".join(self.keys()) or "none installed"
        return PluginNotFound(f"unknown plugin '{key}' (installed: {installed})", key=key, installed=self.keys())


def _load_entry_point(ep: metadata.EntryPoint) -> type[Plugin]:
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - any import-time failure is the plugin's, reported with its reason
        raise PluginLoadError(f"plugin '{ep.name}' ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from None
    if not (isinstance(obj, type) and issubclass(obj, Plugin)):
        raise PluginLoadError(f"plugin '{ep.name}' ({ep.value}) is not a core.Plugin subclass")
    info = getattr(obj, "info", None)
    if not isinstance(info, PluginInfo):
        raise PluginLoadError(f"plugin '{ep.name}' ({ep.value}) has no PluginInfo 'info' attribute")
    if info.key != ep.name:
        raise PluginLoadError(
            f"plugin '{ep.name}' ({ep.value}) says its key is '{info.key}': the entry point name must match"
        )
    return obj


