"""Discover, list and load plugins through the `mlcore.plugins` entry-point group.

Built-in plugins register through the same group as third-party ones. The entry
points, and what listing shows of each plugin (its `info`), come from the user's
cache (`core._plugin_cache`) while the installed distributions and the plugins'
module files are unchanged; else listing imports each plugin's light `plugin.py`
(never its heavy helpers). A plugin whose module fails to import is reported and
skipped when listing, and fails loudly, with the reason, when a run asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from core._deps import missing_modules
from core._errors import PluginLoadError, PluginNotFound
from core._plugin_cache import EntryPointRecord, PluginCache
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
        self._entry_points: dict[str, EntryPointRecord] | None = None
        self._cache: PluginCache | None = None

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
        if info is not None and info.version is None and ep.dist_version is not None:
            # Versions come from the distribution that registered the plugin,
            # so a plugin cannot drift from what pip reports.
            cls.info = replace(info, version=ep.dist_version)
        return cls

    def create(self, key: str) -> Plugin:
        cls = self.load(key)
        try:
            return cls()
        except Exception as exc:  # noqa: BLE001 - a constructor's failure is the plugin's, reported as bad input
            raise PluginLoadError(f"plugin '{key}' could not be created: {type(exc).__name__}: {exc}") from None

    def entries(self) -> Iterator[PluginEntry]:
        """Every registered plugin, loaded far enough to read its `info` (or its `info` as cached while
        nothing it was read from changed); failures are kept, and never cached."""
        if self._classes is not None:
            yield from (self.entry(key) for key in self.keys())
            return
        cache = self._plugin_cache()
        cached, fresh, entries = cache.infos(), {}, []
        for key in self.keys():
            entry = _entry_from_cache(key, self._eps()[key], cached.get(key)) or self.entry(key)
            if entry.error is None:
                fresh[key] = _entry_to_cache(entry)
            entries.append(entry)
        cache.remember_infos(fresh)  # after every load: the module files they came from are all loaded now
        yield from entries

    def entry(self, key: str) -> PluginEntry:
        """One registered plugin as `entries` reports it, loading only that one."""
        if self._classes is not None:
            cls = self.load(key)
            return PluginEntry(key, f"{cls.__module__}:{cls.__qualname__}", None, cls.info.version, cls.info)
        ep = self._eps().get(key)
        if ep is None:
            raise self._not_found(key)
        try:
            info = self.load(key).info
        except PluginLoadError as exc:
            return PluginEntry(key, ep.value, ep.dist_name, ep.dist_version, error=str(exc))
        return PluginEntry(key, ep.value, ep.dist_name, info.version or ep.dist_version, info)

    def distribution(self, key: str) -> str | None:
        """`name version` of the distribution that registers plugin `key` (None: unknown or not one),
        without importing the plugin."""
        if self._classes is not None:
            return None
        ep = self._eps().get(key)
        if ep is None or ep.dist_name is None:
            return None
        return f"{ep.dist_name} {ep.dist_version}" if ep.dist_version else ep.dist_name

    def _plugin_cache(self) -> PluginCache:
        if self._cache is None:
            self._cache = PluginCache(ENTRY_POINT_GROUP)
        return self._cache

    def _eps(self) -> dict[str, EntryPointRecord]:
        if self._entry_points is None:
            found: dict[str, EntryPointRecord] = {}
            for ep in self._plugin_cache().entry_points():
                # Editable installs can surface one distribution twice; the first wins.
                found.setdefault(ep.name, ep)
            self._entry_points = found
        return self._entry_points

    def _not_found(self, key: str) -> PluginNotFound:
        installed = ", ".join(self.keys()) or "none installed"
        return PluginNotFound(f"unknown plugin '{key}' (installed: {installed})", key=key, installed=self.keys())


def _entry_to_cache(entry: PluginEntry) -> dict[str, Any]:
    return {"target": entry.target, "distribution": entry.distribution, "version": entry.version,
            "info": asdict(entry.info) if entry.info else None}


def _entry_from_cache(key: str, ep: EntryPointRecord, row: dict[str, Any] | None) -> PluginEntry | None:
    """The entry as cached for this very entry point, or None (not cached, or not of this shape)."""
    if row is None or row.get("target") != ep.value or row.get("distribution") != ep.dist_name:
        return None
    try:
        fields = dict(row["info"])
        for name in ("requires", "seeds"):
            fields[name] = tuple(fields[name])
        info = PluginInfo(**fields)
        version = row["version"]
    except (KeyError, TypeError, ValueError):
        return None
    if info.key != key or not (version is None or isinstance(version, str)):
        return None
    return PluginEntry(key, ep.value, ep.dist_name, version, info)


def _load_entry_point(ep: EntryPointRecord) -> type[Plugin]:
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


