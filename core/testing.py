"""A contract test kit for plugin authors: subclass `PluginContract` in one line and pytest runs
the conventions' checks on your plugin (the same checks as `core plugins check`).

    from core.testing import PluginContract
    from my_plugin.plugin import MyPlugin

    class TestContract(PluginContract):
        plugin_class = MyPlugin

It checks the plugin's info and package, that `run()` stays glue, that importing it loads
no heavy library, that its extra covers its imports, that its README example validates,
and smoke-runs its example spec (`examples/smoke.yaml` first) on the recording fake
tracker: standard folders, matching artifact paths. Then its behaviour, like scikit-learn's
estimator checks: `validate` rejects an unknown field (top-level and inside a nested section),
`run` returns a `RunResult`, every logged name follows the conventions, and the same seed gives
the same metrics. The smoke run is shared by these checks (once per plugin class in a test
session; the same-seed check adds a second run). Checks that need the plugin's extra are
skipped, saying so, where it is not installed.

`FakeTracking` and `FakeRun` are here too (and `Registry`, to run a plugin class without
installing it), with their query helpers (`only_run()`, `metric_history(name)`,
`final_metrics()`, `params`, `tags`, `artifacts`), for the plugin's own tests.
"""

from __future__ import annotations

import unittest
from typing import ClassVar

from core._plugin_check import (
    Check,
    PluginUnderCheck,
    extra_covers_imports,
    light_import,
    logged_names,
    own_package,
    readme_example,
    rejects_unknown_fields,
    returns_run_result,
    run_is_glue,
    same_seed_same_metrics,
    smoke_run,
    stable_key,
    target_for_class,
)
from core._registry import Registry
from core._tracking.fake import FakeRun, FakeTracking
from core.contracts import Plugin

__all__ = ["FakeRun", "FakeTracking", "PluginContract", "Registry"]


def _assert(check: Check) -> None:
    if check.skipped:
        raise unittest.SkipTest(f"{check.name}: {check.reason}")  # pytest reports it as skipped
    assert check.ok, f"{check.name}: {check.reason}" + (f" [{check.where}]" if check.where else "")


class PluginContract:
    """Base class of a plugin's contract tests; set `plugin_class`."""

    plugin_class: ClassVar[type[Plugin]]

    @property
    def _target(self) -> PluginUnderCheck:
        return target_for_class(self.plugin_class)

    def test_info_and_package(self) -> None:
        _assert(own_package(self._target))
        _assert(stable_key(self._target))

    def test_run_is_glue(self) -> None:
        _assert(run_is_glue(self._target))

    def test_importing_loads_no_heavy_library(self) -> None:
        _assert(light_import(self._target))

    def test_extra_covers_imports(self) -> None:
        _assert(extra_covers_imports(self._target))

    def test_readme_example_validates(self) -> None:
        _assert(readme_example(self._target))

    def test_validate_rejects_unknown_fields(self) -> None:
        _assert(rejects_unknown_fields(self._target))

    def test_smoke_run_layout(self) -> None:
        for check in smoke_run(self._target):
            _assert(check)

    def test_run_returns_run_result(self) -> None:
        _assert(returns_run_result(self._target))

    def test_logged_names_follow_conventions(self) -> None:
        _assert(logged_names(self._target))

    def test_same_seed_gives_same_metrics(self) -> None:
        _assert(same_seed_same_metrics(self._target))
