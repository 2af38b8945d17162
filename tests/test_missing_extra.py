"""Without an extra, a plugin that needs it says which one to install, in one line, exit 2."""

import importlib.util
from pathlib import Path

import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


# (example spec, module the extra brings, extra)
BUILT_IN = [
    ("sklearn_classifier/examples/smoke.yaml", "sklearn", "sklearn"),
    ("torch_mlp/examples/smoke.yaml", "torch", "torch"),
    ("text_classifier/examples/smoke.yaml", "transformers", "nlp"),
]


@pytest.mark.parametrize("example, module, extra", BUILT_IN, ids=[e for _, _, e in BUILT_IN])
def test_spec_without_the_extra(cli_env, tmp_path, example, module, extra):
    """`core run` on a plugin's spec without its extra: exit 2, one line naming the pip command that installs
    the extra from this checkout (`mlcore` on PyPI is another project: never a bare `pip install "mlcore[EXTRA]"`)."""
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed (extras job)")
    proc = run_cli(["run", str(ROOT / "plugins" / example)], cli_env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f'pip install -e "{ROOT}[{extra}]"' in lines[0], lines
    assert not (tmp_path / "artifacts" / "runs").exists()


def test_plugins_list_marks_missing_extras(cli_env):
    """Listing shows each built-in plugin and, where its extra is absent, how to install it."""
    proc = run_cli(["plugins", "list"], cli_env)
    for example, module, extra in BUILT_IN:
        assert example.split("/")[0] in proc.stdout
        if importlib.util.find_spec(module) is None:
            assert f'pip install -e "{ROOT}[{extra}]"' in proc.stdout


def test_require_names_caller_and_extra():
    """`core.require` turns a missing module into MissingExtra with the pip command."""
    from core import MissingExtra, require

    with pytest.raises(MissingExtra, match=r'my plugin requires .*pip install -e ".*\[fancy\]"'):
        require("surely_not_a_module_xyz", extra="fancy", caller="my plugin")
