"""Importing core and listing plugins stays cheap: no heavy library is loaded."""

import json
import subprocess
import sys

HEAVY = ["mlflow", "numpy", "pandas", "sklearn", "torch", "transformers", "tokenizers", "ray", "matplotlib", "sqlalchemy"]

PROBE = """
import json, sys, contextlib, io
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(body: str, env=None) -> list[str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_core_loads_no_heavy_library():
    """`import core` loads none of mlflow, numpy, pandas, sklearn, torch, transformers, ray."""
    assert _loaded("import core") == []


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
    assert _loaded(body) == []
