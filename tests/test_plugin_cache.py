"""The plugin cache (`core._plugin_cache`): entry points and plugin infos kept in the user's cache,
never wrong: a distribution installed, removed or edited, a plugin's module edited, a sys.path changed,
a cache file corrupt or from another Python are all seen on the next call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from core._plugin_cache import PluginCache, cache_dir
from core._registry import ENTRY_POINT_GROUP, Registry

PLUGIN = '''
from core import Plugin, PluginInfo, RunResult

class A(Plugin):
    info = PluginInfo(key="cache_a", description="{description}")

    def run(self, spec, *, context):
        return RunResult()

class B(Plugin):
    info = PluginInfo(key="cache_b", description="the second")

    def run(self, spec, *, context):
        return RunResult()
'''


def _touch_later(path: Path) -> None:
    """A file system with coarse mtimes could leave an edit's mtime as it was; real edits seconds apart
    never do, so the test makes sure of it rather than sleeping."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, time.time_ns()) + 2_000_000_000))


def _install(site: Path, entry_points: str, *, name: str = "cacheplug", version: str = "0.1",
             description: str = "the first") -> Path:
    """A distribution as pip leaves one: the package and its dist-info with entry points."""
    (site / name).mkdir(parents=True, exist_ok=True)
    (site / name / "__init__.py").write_text(PLUGIN.format(description=description))
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}")
    return info


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """An installation folder on sys.path, and a cache of this test's own."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [m for m in sys.modules if m in ("cacheplug", "cachebad")]:
        del sys.modules[name]


def _no_scan(monkeypatch) -> None:
    """From here, reading installed distributions' entry points fails the test: the cache must answer."""
    def scan(**kwargs):
        raise AssertionError("importlib.metadata.entry_points called: the cache was not used")

    monkeypatch.setattr(metadata, "entry_points", scan)


def test_entry_points_come_from_the_cache_until_a_distribution_changes(site, monkeypatch):
    info = _install(site, "cache_a = cacheplug:A\n")
    assert "cache_a" in Registry().keys()
    files = list(cache_dir().glob("*.json"))
    assert len(files) == 1

    with monkeypatch.context() as m:
        _no_scan(m)
        assert "cache_a" in Registry().keys()
        assert Registry().load("cache_a").info.description == "the first"

    # Its entry points edited in place (an editable install's, say): seen on the next call.
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ncache_a = cacheplug:A\ncache_b = cacheplug:B\n")
    _touch_later(info / "entry_points.txt")
    assert {"cache_a", "cache_b"} <= set(Registry().keys())

    # Uninstalled: gone.
    for path in info.iterdir():
        path.unlink()
    info.rmdir()
    assert not {"cache_a", "cache_b"} & set(Registry().keys())

    # Installed again, under another version: back, with that version.
    _install(site, "cache_b = cacheplug:B\n", version="0.2")
    entry = Registry().entry("cache_b")
    assert (entry.version, entry.distribution) == ("0.2", "cacheplug")


def test_files_coming_and_going_beside_the_distributions_keep_the_cache(site, monkeypatch):
    """A folder on sys.path that changes all day (the working directory under `python -m core`, /tmp):
    files that are no distribution's metadata do not make every command scan again."""
    _install(site, "cache_a = cacheplug:A\n")
    assert "cache_a" in Registry().keys()
    (site / "notes.txt").write_text("not a distribution")
    (site / "scratch").mkdir()
    with monkeypatch.context() as m:
        _no_scan(m)
        assert "cache_a" in Registry().keys()


def test_a_folder_added_to_sys_path_is_seen(site, tmp_path, monkeypatch):
    Registry().keys()  # the cache made without it
    other = tmp_path / "other"
    other.mkdir()
    _install(other, "cache_a = cacheplug:A\n")
    monkeypatch.syspath_prepend(str(other))
    assert "cache_a" in Registry().keys()


def test_listing_keeps_each_plugin_info_until_its_module_changes(site, monkeypatch):
    _install(site, "cache_a = cacheplug:A\n")
    assert Registry().entry("cache_a").info.description == "the first"
    listed = {e.key: e for e in Registry().entries()}
    assert listed["cache_a"].info.description == "the first"

    # The next listing imports no plugin module: every info comes from the cache.
    for name in [m for m in sys.modules if m == "cacheplug"]:
        del sys.modules[name]
    with monkeypatch.context() as m:
        _no_scan(m)
        again = {e.key: e for e in Registry().entries()}
    assert "cacheplug" not in sys.modules
    assert again["cache_a"] == listed["cache_a"]

    # The plugin's module edited (an editable install): its new description, from the module.
    module = site / "cacheplug" / "__init__.py"
    module.write_text(PLUGIN.format(description="edited since"))
    _touch_later(module)
    assert {e.key: e for e in Registry().entries()}["cache_a"].info.description == "edited since"
    assert "cacheplug" in sys.modules


def test_a_plugin_that_fails_to_load_is_never_cached(site):
    _install(site, "cache_a = cacheplug:A\ncache_bad = cacheplug:Missing\n")
    for _ in range(2):
        listed = {e.key: e for e in Registry().entries()}
        assert listed["cache_bad"].error and "Missing" in listed["cache_bad"].error
        assert listed["cache_a"].error is None
    (cache,) = cache_dir().glob("*.json")
    assert set(json.loads(cache.read_text())["infos"]) >= {"cache_a"}
    assert "cache_bad" not in json.loads(cache.read_text())["infos"]


def test_a_plugin_fixed_later_keeps_the_others_cache_true(site, monkeypatch):
    """A broken plugin fixed while another's info comes from the cache: the cache then answers for both,
    and still sees an edit of the module the cached one was read from (not imported in that listing)."""
    _install(site, "cache_a = cacheplug:A\ncache_bad = cachebad:Bad\n")
    (site / "cachebad.py").write_text("raise RuntimeError('not yet')\n")
    assert {e.key: e for e in Registry().entries()}["cache_bad"].error
    for name in [m for m in sys.modules if m in ("cacheplug", "cachebad")]:
        del sys.modules[name]
    (site / "cachebad.py").write_text(PLUGIN.replace("class A", "class Bad").replace('"cache_a"', '"cache_bad"')
                                      .format(description="fixed"))
    listed = {e.key: e for e in Registry().entries()}
    assert listed["cache_bad"].info.description == "fixed" and "cacheplug" not in sys.modules

    module = site / "cacheplug" / "__init__.py"
    module.write_text(PLUGIN.format(description="edited since"))
    _touch_later(module)
    listed = {e.key: e for e in Registry().entries()}
    assert (listed["cache_a"].info.description, listed["cache_bad"].info.description) == ("edited since", "fixed")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "another_python", "wrong_types", "a_folder"])
def test_a_damaged_cache_is_ignored_and_written_again(site, damage):
    _install(site, "cache_a = cacheplug:A\n")
    list(Registry().entries())
    (path,) = cache_dir().glob("*.json")
    good = json.loads(path.read_text())
    if damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "truncated":
        path.write_text(path.read_text()[:100])
    elif damage == "another_python":
        # As a cache copied from another environment would say: it names an entry point this one lacks.
        path.write_text(json.dumps(good | {"python": "2.7.18", "entry_points": [["ghost", "nowhere:G", None, None]]}))
    elif damage == "wrong_types":
        path.write_text(json.dumps(good | {"entry_points": [["cache_a", 5, None]], "infos": []}))
    else:
        path.unlink()
        path.mkdir()  # a cache file that cannot even be opened as one: listing works, uncached

    listed = {e.key: e for e in Registry().entries()}
    assert listed["cache_a"].info.description == "the first" and "ghost" not in listed
    if damage != "a_folder":
        assert json.loads(path.read_text())["entry_points"] == good["entry_points"]  # rewritten, whole
        assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_an_unwritable_cache_costs_only_the_scan(site, tmp_path, monkeypatch):
    _install(site, "cache_a = cacheplug:A\n")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert Registry().entry("cache_a").info.description == "the first"
    assert PluginCache(ENTRY_POINT_GROUP).infos() == {}


def test_the_cache_lists_what_importlib_metadata_lists():
    """On the real environment: the cached entry points are exactly the scan's, in its order."""
    scanned = [(ep.name, ep.value) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    for _ in range(2):  # made, then read back
        assert [(e.name, e.value) for e in PluginCache(ENTRY_POINT_GROUP).entry_points()] == scanned


def test_the_core_command_uses_the_cache_across_processes(site, tmp_path):
    """`core plugins list` twice in fresh processes: the second imports neither importlib.metadata's scan
    nor the plugin module, and shows the same."""
    _install(site, "cache_a = cacheplug:A\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    probe = ("import contextlib, io, json, sys\nfrom core.cli import main\nout = io.StringIO()\n"
             "with contextlib.redirect_stdout(out):\n    main(['plugins', 'list', '--json'])\n"
             "print(json.dumps([json.loads(out.getvalue()), 'cacheplug' in sys.modules, "
             "'importlib.metadata' in sys.modules]))")
    runs = [json.loads(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                      check=True).stdout) for _ in range(2)]
    (first, first_imported, _), (second, second_imported, second_metadata) = runs
    assert first == second and any(p["key"] == "cache_a" for p in second)
    assert first_imported and not second_imported and not second_metadata
