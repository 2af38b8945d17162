"""The `mlcore.plugins` entry points and the plugins' `info`, kept in the user's cache directory.

Why: `importlib.metadata.entry_points` reads the metadata of every installed distribution (~130 in an
environment with all extras), and listing plugins imports each plugin's module (and its config
modules); together most of `core plugins list`'s time. Both answers change only when files change, so
they are kept in `$XDG_CACHE_HOME/mlcore/plugins/` (default `~/.cache/mlcore/plugins/`), one small
JSON file per Python executable and `sys.path`, and trusted only while what they were read from is
as it was:

- the entry points, while every `sys.path` entry holds the same `*.dist-info` / `*.egg-info` folders
  (a distribution installed or removed there adds or removes one), each with the mtimes it had of the
  folder, its `entry_points.txt` and its `METADATA` (`PKG-INFO`): an editable install re-made, or its
  entry points edited in place, is seen;
- each plugin's `info` (what `core plugins list` shows), while those entry points hold and every
  module file that was loaded when it was read (the plugin's modules, core's, any other; the standard
  library aside) has the mtime and size it had. A plugin that failed to load is never kept: it is
  tried again each time.

A cache file that cannot be read, is not JSON of this shape, or was written by another Python is
ignored and written again (atomically: a temporary file renamed over it). One that cannot be written
(a read-only home) costs the scan, nothing else. Delete the folder to clear it; nothing else is kept
there by this module.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zlib import adler32, crc32  # hashlib would cost ~5 ms to import: these name files, they guard nothing

from core._files import user_cache_dir

#: bumped when the file's shape changes; a file of another version is ignored
CACHE_VERSION = 1
#: what importlib.metadata accepts as an entry point's value: `module[:attr.attr] [extras]`
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


def cache_dir() -> Path:
    return user_cache_dir() / "plugins"


@dataclass(frozen=True, slots=True)
class EntryPointRecord:
    """One entry point of the group, as `importlib.metadata` gave it, loadable without that module."""

    name: str
    value: str  # "package.module:Class"
    dist_name: str | None
    dist_version: str | None

    def load(self) -> Any:
        """What `importlib.metadata.EntryPoint.load` returns: the module imported, the attribute followed."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"'{self.value}' is not module:attribute")
        obj: Any = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            obj = getattr(obj, attr)
        return obj


class PluginCache:
    """One process's view of the cache file for `group`: read once, written when something was found anew."""

    def __init__(self, group: str, folder: Path | None = None) -> None:
        self.group = group
        key = json.dumps([CACHE_VERSION, group, sys.executable, sys.version, sys.path]).encode()
        # The name only spreads environments over files; the header inside is what is checked.
        self.path = (folder or cache_dir()) / f"{crc32(key):08x}{adler32(key):08x}.json"
        self._header = {"version": CACHE_VERSION, "group": group, "executable": sys.executable,
                        "python": sys.version, "sys_path": list(sys.path)}
        self._installed = installed_fingerprint()
        data = self._read()
        self._entry_points: list[EntryPointRecord] | None = None
        self._infos: dict[str, dict[str, Any]] = {}
        self._modules: list[list[Any]] = []
        if data is not None:
            self._entry_points = data["entry_points"]
            self._infos, self._modules = data["infos"], data["modules"]

    def entry_points(self) -> list[EntryPointRecord]:
        """The group's entry points in `importlib.metadata`'s order; the full scan only when the cache is stale."""
        if self._entry_points is None:
            from importlib import metadata

            self._entry_points = [
                EntryPointRecord(ep.name, ep.value, ep.dist.name if ep.dist is not None else None,
                                 ep.dist.version if ep.dist is not None else None)
                for ep in metadata.entry_points(group=self.group)
            ]
            self._infos, self._modules = {}, []
            self._write()
        return self._entry_points

    def infos(self) -> dict[str, dict[str, Any]]:
        """What `remember_infos` kept, while the module files it was read from are unchanged; else {}."""
        if self._infos and not _modules_unchanged(self._modules):
            self._infos, self._modules = {}, []
        return dict(self._infos)

    def remember_infos(self, infos: dict[str, dict[str, Any]]) -> None:
        """Keep each plugin's listing (JSON values) against the module files it was read from: those now
        loaded, and those the infos still valid from the cache were read from (checked unchanged by
        `infos`; their modules need not be loaded in this process)."""
        self.entry_points()
        try:
            infos = json.loads(json.dumps(infos))  # as the file will hold them (tuples as lists)
        except (TypeError, ValueError):
            return  # an `info` JSON cannot hold: listed from the plugin's module each time
        if infos == self._infos:
            return  # nothing new: every one came from the cache
        rows = {row[0]: row for row in self._modules if self._infos}
        rows.update((row[0], row) for row in loaded_module_files())
        self._infos, self._modules = infos, sorted(rows.values())
        self._write()

    # -- the file ------------------------------------------------------------------------------------
    def _read(self) -> dict[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict) or any(data.get(k) != v for k, v in self._header.items()):
                return None
            if data.get("installed") != self._installed:
                return None
            eps = [EntryPointRecord(*_strings(item, 4)) for item in data["entry_points"]]
            infos = data["infos"]
            modules = data["modules"]
            if not isinstance(infos, dict) or not all(isinstance(v, dict) for v in infos.values()):
                return None
            if not isinstance(modules, list) or not all(_module_row(m) for m in modules):
                return None
            return {"entry_points": eps, "infos": infos, "modules": modules}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, unreadable, not JSON or not this shape: scanned again and rewritten

    def _write(self) -> None:
        from core._files import atomic_write_text

        data = self._header | {
            "installed": self._installed,
            "entry_points": [[e.name, e.value, e.dist_name, e.dist_version] for e in self._entry_points or []],
            "infos": self._infos,
            "modules": self._modules,
        }
        try:
            atomic_write_text(self.path, json.dumps(data))
        except (OSError, TypeError, ValueError):
            pass  # a cache that cannot be written (or an `info` JSON cannot hold) is only slower, never wrong


def installed_fingerprint() -> list[Any]:
    """What the installed distributions were read from, as it is now: each `sys.path` entry (a zip's
    mtime and size), and in each folder every `*.dist-info`/`*.egg-info` with the mtimes of the folder,
    its `entry_points.txt` and its `METADATA`/`PKG-INFO`."""
    out: list[Any] = []
    for entry in sys.path:
        folder = entry or "."
        try:
            st = os.stat(folder)
        except OSError:
            out.append([entry, None])
            continue
        if not stat.S_ISDIR(st.st_mode):
            out.append([entry, st.st_mtime_ns, st.st_size])
            continue
        metas = []
        try:
            with os.scandir(folder) as it:
                names = [d.name for d in it if d.name.lower().endswith((".dist-info", ".egg-info"))]
        except OSError:
            names = []
        for name in sorted(names):
            path = os.path.join(folder, name)
            meta = "PKG-INFO" if name.lower().endswith(".egg-info") else "METADATA"
            metas.append([name, _mtime(path), _mtime(os.path.join(path, "entry_points.txt")),
                          _mtime(os.path.join(path, meta))])
        # Not the folder's own mtime: its listing of metadata folders says what was installed or removed,
        # and a folder that changes all day (a working directory on sys.path, /tmp) keeps its cache.
        out.append([entry, metas])
    return out


def loaded_module_files() -> list[list[Any]]:
    """[file, mtime_ns, size] of every module now loaded from a file, the standard library's aside
    (it changes only with Python itself, which keys the cache)."""
    stdlib = os.path.dirname(os.__file__) + os.sep
    rows = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or (file.startswith(stdlib) and "-packages" not in file):
            continue
        try:
            st = os.stat(file)
        except OSError:
            continue
        rows.append([file, st.st_mtime_ns, st.st_size])
    return sorted(rows)


def _modules_unchanged(rows: list[list[Any]]) -> bool:
    for file, mtime, size in rows:
        try:
            st = os.stat(file)
        except OSError:
            return False
        if st.st_mtime_ns != mtime or st.st_size != size:
            return False
    return True


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _strings(item: Any, n: int) -> list[str | None]:
    if not isinstance(item, list) or len(item) != n or not all(v is None or isinstance(v, str) for v in item):
        raise TypeError("not an entry point row")
    if not isinstance(item[0], str) or not isinstance(item[1], str):
        raise TypeError("an entry point without name or value")
    return item


def _module_row(row: Any) -> bool:
    return (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
            and isinstance(row[1], int) and isinstance(row[2], int))
