"""Importing core and the cheap commands (`--help`, `plugins list`, `runs list`) stay cheap: no heavy
library is loaded, nor what only other commands need (the tracking package's stores, file locks,
importlib.metadata's scan of every installed distribution once the plugin cache holds it)."""

import json
import subprocess
import sys

HEAVY = ["mlflow", "numpy", "pandas", "sklearn", "torch", "transformers", "tokenizers", "ray", "matplotlib", "sqlalchemy", "optuna"]

PROBE = """
import json, sys, contextlib, io
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


#: light, but not needed by the cheap commands: each costs milliseconds they are measured in
NOT_FOR_CHEAP_COMMANDS = ["importlib.metadata", "sqlite3", "filelock", "core._tracking", "core._runner", "hashlib",
                          "socket", "difflib", "core._compare"]


def _loaded(body: str, env=None, modules=HEAVY) -> list[str]:
    code = PROBE.format(body=body, heavy=modules)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_core_loads_no_heavy_library():
    """`import core` loads none of mlflow, numpy, pandas, sklearn, torch, transformers, ray."""
    assert _loaded("import core") == []


def test_import_core_loads_nothing_the_cheap_commands_skip():
    """Nor the tracking package, importlib.metadata, sqlite3, file locks: `core.TrackingBackend` and
    `core.Metric` are imported on first use."""
    assert _loaded("import core", modules=NOT_FOR_CHEAP_COMMANDS) == []
    assert _loaded("import core\ncore.TrackingBackend", modules=["core._tracking"]) == ["core._tracking"]


def test_cached_plugins_list_imports_no_plugin_module(cli_env):
    """With the plugin cache warm, `core plugins list` imports no plugin's module and does not scan
    the installed distributions; only the plugin that fails to load (`ext_broken`, never cached) is
    tried again."""
    body = (
        "from core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['plugins', 'list'])\n"
        "plugin_modules = [m for m in sys.modules if m.startswith(('plugins.', 'ext_pkg'))]\n"
        "print(json.dumps(plugin_modules))"
    )
    code = PROBE.format(body=body, heavy=NOT_FOR_CHEAP_COMMANDS)
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    env=cli_env).stdout.strip().splitlines() for _ in range(2))
    assert json.loads(first[-2]), "the first listing imports the plugins (and fills the cache)"
    assert set(json.loads(second[-2])) <= {"ext_pkg", "ext_pkg.broken"} and json.loads(second[-1]) == []


def test_runs_list_loads_only_what_it_prints(cli_env, tmp_path):
    """`core runs list` on a root with a run: no heavy library, no tracking package, no file lock."""
    spec = tmp_path / "echo.yaml"
    spec.write_text("plugin: echo\n")
    subprocess.run([sys.executable, "-m", "core", "run", str(spec)], env=cli_env, check=True, capture_output=True)
    body = (
        "from core.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    main(['runs', 'list'])\n"
        "assert 'echo' in out.getvalue(), out.getvalue()"
    )
    assert _loaded(body, env=cli_env, modules=HEAVY + NOT_FOR_CHEAP_COMMANDS) == []


def test_plugins_list_loads_no_heavy_library(fresh_store_env):
    """`core plugins list` imports every plugin's light module and nothing heavy."""
    body = (
        "from core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['plugins', 'list'])"
    )
    assert _loaded(body, env=fresh_store_env) == []


def test_cli_help_loads_no_heavy_library():
    """`core --help` builds the parser without importing any command module's dependencies."""
    body = (
        "from core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    )
    assert _loaded(body, modules=HEAVY + NOT_FOR_CHEAP_COMMANDS + ["core._commands", "core._registry"]) == []
