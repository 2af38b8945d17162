"""The contract kit's behaviour checks (`core.testing.PluginContract`, `core plugins check`): each one
catches a plugin that breaks it, on the fake tracker, with the smoke run shared between them."""

import random
import unittest

import pytest
from ext_pkg import BadResult, Echo
from ext_pkg import Random as EntropyMetric

from core import ConfigField, Plugin, PluginInfo, RunResult, RunSpec, SpecError
from core._plugin_check import (
    UNKNOWN_FIELD,
    PluginUnderCheck,
    extra_covers_imports,
    logged_names,
    readme_example,
    rejects_unknown_fields,
    returns_run_result,
    run_checks,
    same_seed_same_metrics,
    smoke_run,
)
from core.testing import FakeTracking, PluginContract, Registry

SMOKE_TAGS = {"purpose": "smoke"}


def _target(cls, data_spec=None, seed=None):
    """`cls` under check, smoke-run with `data_spec` (and `seed`), as examples/smoke.yaml would give it."""
    spec = RunSpec(plugin=cls.info.key, data_spec=data_spec or {}, seed=seed, tags=SMOKE_TAGS)
    return PluginUnderCheck(cls.info.key, cls, smoke=spec)


def _log_and_write(context, metrics, params=None, folder="metrics"):
    context.tracking.log_params(params or {"model.type": "none"})
    context.tracking.log_metrics(metrics)
    path = context.artifact_dir / folder / "m.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    context.tracking.log_artifact(path, artifact_path=folder)


class WellBehaved(Plugin):
    """Validates every section it declares, seeds from the spec, logs structured names, returns a RunResult."""

    info = PluginInfo(key="well_behaved", seeds=("random",))
    config_fields = (ConfigField("model.depth", "int", 3), ConfigField("data.n", "int", 10))
    runs = 0

    def validate(self, spec):
        for section, allowed in ((None, ("model", "data", "purpose")), ("model", ("depth",)), ("data", ("n",))):
            cfg = spec.data_spec if section is None else spec.data_spec.get(section, {})
            where = "data_spec" if section is None else f"data_spec.{section}"
            unknown = [k for k in cfg if k not in allowed]
            if unknown:
                raise SpecError("unknown field", field=f"{where}.{unknown[0]}", allowed=allowed)

    def run(self, spec, *, context):
        type(self).runs += 1
        _log_and_write(context, {"test_score": random.random(), "test_nan": float("nan")})
        return RunResult(outputs={"ok": True})


WELL_SPEC = {"model": {"depth": 3}, "data": {"n": 10}}


def test_a_well_behaved_plugin_passes_and_the_smoke_run_is_shared():
    """The behaviour checks pass, and together they run the smoke spec twice (NaN equals NaN)."""
    WellBehaved.runs = 0
    target = _target(WellBehaved, WELL_SPEC, seed=7)
    checks = [*smoke_run(target), rejects_unknown_fields(target), returns_run_result(target),
              logged_names(target), same_seed_same_metrics(target)]
    assert all(c.ok and not c.skipped for c in checks), [c for c in checks if not c.ok]
    for check in (*smoke_run(target), returns_run_result(target), logged_names(target), same_seed_same_metrics(target)):
        assert check.ok
    assert WellBehaved.runs == 2
    reason = {c.name: c.reason for c in checks}
    assert "data_spec.model.no_such_field_xyz" in reason["rejects unknown fields"]
    assert "data_spec.data.no_such_field_xyz" in reason["rejects unknown fields"]
    assert "seed 7" in reason["same seed same metrics"]


def test_a_spec_without_a_seed_is_run_with_one_set_by_the_check():
    """The smoke spec has no seed: the check sets one, so the same-seed comparison still means something."""
    target = _target(WellBehaved, {"model": {"depth": 2}})
    assert "set by the check" in smoke_run(target)[0].reason
    assert same_seed_same_metrics(target).ok


# -- same seed, same metrics ------------------------------------------------------------------------------

class Unseeded(Plugin):
    """Draws from its own RNG, which no spec.seed reaches."""

    info = PluginInfo(key="unseeded")

    def validate(self, spec):
        if spec.data_spec:
            raise SpecError("unknown field", field=f"data_spec.{next(iter(spec.data_spec))}", allowed=())

    def run(self, spec, *, context):
        _log_and_write(context, {"test_accuracy": 0.5, "val_loss": random.Random().random()})
        return RunResult()


def test_same_seed_check_names_the_metric_that_differs_and_both_values():
    """A metric from an unseeded RNG: the check fails naming it and its two values."""
    check = same_seed_same_metrics(_target(Unseeded, seed=1))
    assert not check.ok and "val_loss was 0." in check.reason and ", then 0." in check.reason
    assert "test_accuracy" not in check.reason and "seed 1" in check.reason


def test_the_entropy_test_plugin_fails_the_same_seed_check():
    """ext_pkg's `ext_random` (its metric from os.urandom) is caught by the same-seed check."""
    check = same_seed_same_metrics(_target(EntropyMetric))
    assert not check.ok and "test_value was" in check.reason and "test_constant" not in check.reason


# -- unknown config fields ------------------------------------------------------------------------------------

class AcceptsAnything(Plugin):
    info = PluginInfo(key="accepts_anything")

    def run(self, spec, *, context):
        return RunResult()


class TopLevelOnly(Plugin):
    """Checks the top of data_spec, but not inside the `model` section it declares."""

    info = PluginInfo(key="top_level_only")
    config_fields = (ConfigField("model.depth", "int", 3),)

    def validate(self, spec):
        unknown = [k for k in spec.data_spec if k != "model"]
        if unknown:
            raise SpecError("unknown field", field=f"data_spec.{unknown[0]}", allowed=("model",))

    def run(self, spec, *, context):
        return RunResult()


class CrashesOnUnknown(Plugin):
    info = PluginInfo(key="crashes_on_unknown")

    def validate(self, spec):
        for key in spec.data_spec:
            {"depth": 1}[key]

    def run(self, spec, *, context):
        return RunResult()


class Unhelpful(Plugin):
    info = PluginInfo(key="unhelpful")

    def validate(self, spec):
        if spec.data_spec:
            raise SpecError("bad config")

    def run(self, spec, *, context):
        return RunResult()


def test_validate_accepting_an_unknown_top_level_field_fails():
    """A plugin whose validate accepts anything fails, told to raise a SpecError naming the field."""
    check = rejects_unknown_fields(_target(AcceptsAnything))
    assert not check.ok and f"accepts data_spec.{UNKNOWN_FIELD}" in check.reason and "SpecError" in check.reason


def test_validate_ignoring_unknown_fields_inside_a_declared_section_fails():
    """An unknown key inside a section of its dotted config_fields (model.*) must be rejected too."""
    check = rejects_unknown_fields(_target(TopLevelOnly, {"model": {"depth": 3}}))
    assert not check.ok and f"accepts data_spec.model.{UNKNOWN_FIELD}" in check.reason


def test_validate_must_raise_bad_input_that_names_the_field():
    """A KeyError is not a SpecError; a SpecError that does not name the field does not help either."""
    crash = rejects_unknown_fields(_target(CrashesOnUnknown))
    assert not crash.ok and "raises KeyError" in crash.reason
    vague = rejects_unknown_fields(_target(Unhelpful))
    assert not vague.ok and "without naming it" in vague.reason and "bad config" in vague.reason


def test_a_plugin_without_config_fields_is_exempt_from_the_nested_part():
    """Only the top level is tried when a plugin declares no config_fields, and the reason says so."""
    check = rejects_unknown_fields(_target(Unseeded))
    assert check.ok and "declares no config_fields" in check.reason


def test_the_permissive_echo_test_plugin_fails_the_unknown_fields_check():
    """ext_pkg's `echo` accepts any data_spec on purpose (core's own tests feed it one): the check says so."""
    check = rejects_unknown_fields(_target(Echo))
    assert not check.ok and "accepts data_spec.no_such_field_xyz" in check.reason


# -- run returns a RunResult -------------------------------------------------------------------------------------

class ReturnsDict(Plugin):
    info = PluginInfo(key="returns_dict")

    def run(self, spec, *, context):
        _log_and_write(context, {"test_accuracy": 1.0})
        return {"test_accuracy": 1.0}


def test_run_returning_a_dict_fails_the_run_result_check():
    """The runner records a FAILED run; the check says plainly what run() returned instead."""
    check = returns_run_result(_target(ReturnsDict))
    assert not check.ok and "run() returned dict, not core.RunResult" in check.reason and "FAILED" in check.reason
    assert not smoke_run(_target(ReturnsDict))[0].ok


def test_the_bad_result_test_plugin_fails_the_run_result_check():
    """ext_pkg's `ext_badresult` (returns a dict) is caught by the RunResult check."""
    check = returns_run_result(_target(BadResult))
    assert not check.ok and "returned dict, not core.RunResult" in check.reason


def test_checks_that_need_a_finished_run_say_they_could_not_check():
    """When the smoke run fails for another reason, the run-based checks fail as not checked."""
    from ext_pkg import Fail

    target = _target(Fail)
    for check in (returns_run_result(target), same_seed_same_metrics(target)):
        assert not check.ok and "not checked: the smoke run ended FAILED" in check.reason
    assert logged_names(target).ok  # what it logged before failing is still judged


# -- every logged name follows the conventions ---------------------------------------------------------------------

class MisfiledArtifact(Plugin):
    """Names its params and metrics well, but logs its artifact outside the standard folders."""

    info = PluginInfo(key="misfiled_artifact")

    def run(self, spec, *, context):
        _log_and_write(context, {"test_accuracy": 1.0}, folder="results")
        return RunResult()


class SloppyNames(Plugin):
    info = PluginInfo(key="sloppy_names")

    def run(self, spec, *, context):
        _log_and_write(context, {"accuracy": 1.0}, params={"lr": 0.1})
        context.tracking.set_tag("purpose", "fun")
        return RunResult()


def test_an_artifact_outside_the_standard_folders_fails_the_names_check():
    """Artifact paths are judged with params, metrics and tags: `results/m.json` is not under a standard folder."""
    check = logged_names(_target(MisfiledArtifact))
    assert not check.ok and "artifact 'results/m.json' should be under data/, models/" in check.reason


def test_params_metrics_and_tags_off_the_conventions_fail_the_names_check():
    """Each slip counts: the first is shown, with how many more."""
    check = logged_names(_target(SloppyNames))
    assert not check.ok and "metric 'accuracy'" in check.reason and "(and 2 more)" in check.reason


# -- the kit: one line to use, skips without the extra --------------------------------------------------------------

class NeedsAMissingExtra(Plugin):
    info = PluginInfo(key="needs_missing_extra", extra="sklearn", requires=("no_such_module_xyz",))

    def run(self, spec, *, context):
        raise AssertionError("never runs without its extra")


def test_checks_that_need_the_extra_are_skipped_with_the_reason():
    """Without the plugin's extra, every check that needs it is skipped (not failed), saying how to install it."""
    target = _target(NeedsAMissingExtra)
    checks = [extra_covers_imports(target), readme_example(target), rejects_unknown_fields(target),
              *smoke_run(target), returns_run_result(target), logged_names(target), same_seed_same_metrics(target)]
    for check in checks:
        assert check.ok and check.skipped, check
        assert "no_such_module_xyz" in check.reason and '[sklearn]"' in check.reason

    class TestContract(PluginContract):
        plugin_class = NeedsAMissingExtra

    with pytest.raises(unittest.SkipTest, match="pip install .*\\[sklearn\\]"):
        TestContract().test_same_seed_gives_same_metrics()


def test_plugins_check_runs_the_behaviour_checks():
    """`core plugins check` (run_checks) reports each behaviour check by name."""
    names = {c.name for c in run_checks(_target(WellBehaved, WELL_SPEC, seed=7))}
    assert {"rejects unknown fields", "returns RunResult", "structured names", "same seed same metrics"} <= names


def test_core_testing_exports_the_registry_for_running_a_plugin_class(tmp_path):
    """`core.testing.Registry` runs a plugin class without installing it, on the fake tracker."""
    from core import run

    fake = FakeTracking()
    outcome = run(RunSpec(plugin="well_behaved", data_spec=WELL_SPEC, seed=3), registry=Registry(
        {"well_behaved": WellBehaved}), backend=fake, artifact_root=tmp_path)
    assert outcome.status.value == "FINISHED" and "test_score" in fake.only_run().final_metrics()
