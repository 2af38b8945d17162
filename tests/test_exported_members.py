"""The public surface of `core` is pinned: a change here is a contract change."""

import core


def test_core_all_is_pinned():
    """`core.__all__` lists exactly the contract, the errors and `require`."""
    assert sorted(core.__all__) == sorted(
        [
            "BadInput",
            "ConfigField",
            "CoreError",
            "InvalidTrackingValue",
            "LifecycleError",
            "Metric",
            "MissingExtra",
            "Plugin",
            "PluginInfo",
            "PluginLoadError",
            "PluginNotFound",
            "RunContext",
            "RunResult",
            "RunSpec",
            "RunStatus",
            "SpecError",
            "TrackingClient",
            "TrackingError",
            "require",
        ]
    )
    for name in core.__all__:
        assert getattr(core, name) is not None


def test_run_status_maps_onto_mlflow_names():
    """Each terminal status has one MLflow name."""
    assert {s.mlflow_name for s in core.RunStatus if s.is_terminal} == {"FINISHED", "FAILED", "KILLED"}


def test_contract_dataclasses_are_frozen():
    """Specs and results cannot be changed behind core's back."""
    import dataclasses

    import pytest

    spec = core.RunSpec(plugin="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.plugin = "y"  # type: ignore[misc]
