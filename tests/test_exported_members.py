"""The public face of `core`: what it exports is deliberate, importable, and documented."""

import dataclasses
import importlib
import pkgutil
import subprocess
import sys

import pytest

import core


def test_all_imports():
    """Every name in `core.__all__` can be imported, and `import *` gives exactly `__all__` (httpx style)."""
    namespace: dict = {}
    exec("from core import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(core.__all__)
    for name in core.__all__:
        assert getattr(core, name) is not None, name


def test_every_public_name_is_exported_and_nothing_private_leaks():
    """Public names of `core` (no underscore) are exactly `__all__`; an internal module never shows up as one."""
    modules = {m.name for m in pkgutil.iter_modules(core.__path__)}
    public_modules = {m for m in modules if not m.startswith("_")}
    assert public_modules == {"cli", "contracts", "testing"}, "a new public module is a contract change"
    helpers = {"annotations", "importlib", "warnings", "Any", "TYPE_CHECKING"}
    public = {n for n in vars(core) if not n.startswith("_")} - helpers - public_modules
    assert public - set(core.__all__) == set(), "public but not exported"


def test_what_users_need_is_exported():
    """The contract, the run entry point, its outcome, the errors, ConfigField and ProgressBar."""
    needed = {"Plugin", "PluginInfo", "RunSpec", "RunContext", "RunResult", "RunStatus", "Tracker", "ConfigField",
              "run", "RunOutcome", "ProgressBar", "CoreError", "BadInput", "SpecError", "MissingExtra", "require"}
    assert needed <= set(core.__all__)
    assert core.run is importlib.import_module("core._runner").run


def test_exports_are_defined_where_they_say():
    """Every export is documented: a docstring on each class and function."""
    for name in core.__all__:
        value = getattr(core, name)
        if isinstance(value, type) or callable(value):
            assert (value.__doc__ or "").strip(), f"core.{name} has no docstring"


def test_import_core_does_not_load_the_runner():
    """`run`, `RunOutcome`, `load_spec` and `RunSummary` are imported on first use only."""
    code = "import core, sys; print('core._runner' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_tracking_client_is_a_deprecated_alias():
    """The old backend base name still works, with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match="TrackingBackend"):
        assert core.TrackingClient is core.TrackingBackend


def test_run_status_maps_onto_mlflow_names():
    """Each terminal status has one MLflow name."""
    assert {s.mlflow_name for s in core.RunStatus if s.is_terminal} == {"FINISHED", "FAILED", "KILLED"}


def test_contract_dataclasses_are_frozen():
    """Specs and results cannot be changed behind core's back."""
    spec = core.RunSpec(plugin="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.plugin = "y"  # type: ignore[misc]
