"""Without an extra, a plugin that needs it says which one to install, in one line, exit 2."""

import importlib.util
from pathlib import Path

import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is not None, reason="sklearn is installed (extras job)")
def test_sklearn_spec_without_the_extra(cli_env, tmp_path):
    """`core run` on an sklearn spec in a core-only environment: exit 2, `pip install "mlcore[sklearn]"`."""
    proc = run_cli(["run", str(ROOT / "plugins" / "sklearn_classifier" / "examples" / "smoke.yaml")], cli_env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "mlcore[sklearn]"' in lines[0]
    assert not (tmp_path / "artifacts" / "runs").exists()


def test_plugins_list_marks_missing_extras(cli_env):
    """Listing shows each built-in plugin and, where its extra is absent, how to install it."""
    proc = run_cli(["plugins", "list"], cli_env)
    assert "sklearn_classifier" in proc.stdout and "sklearn_regressor" in proc.stdout
    if importlib.util.find_spec("sklearn") is None:
        assert 'pip install "mlcore[sklearn]"' in proc.stdout


def test_require_names_caller_and_extra():
    """`core.require` turns a missing module into MissingExtra with the pip command."""
    from core import MissingExtra, require

    with pytest.raises(MissingExtra, match=r'my plugin requires .*pip install "mlcore\[fancy\]"'):
        require("surely_not_a_module_xyz", extra="fancy", caller="my plugin")
