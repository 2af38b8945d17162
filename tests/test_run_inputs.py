"""`Plugin.inputs`: what a run needs from earlier runs is checked before its folder exists (issue 20,
item 23: a `score.run_id` that names no run is bad input, exit 2, not a FAILED run)."""

from pathlib import Path

import pytest

from core import BadInput, Plugin, PluginInfo, RunContext, RunFileNotFound, RunInput, RunResult, RunSpec, SpecError
from core._runner import run
from core._tracking.fake import FakeTracking
from core.testing import Registry


class NeedsEarlierRun(Plugin):
    """Reads `models/m.txt` of the run named by `data_spec.source_run`."""

    info = PluginInfo(key="needs_earlier")

    def inputs(self, spec: RunSpec) -> tuple[RunInput, ...]:
        return (RunInput(field="data_spec.source_run", run_id=spec.data_spec["source_run"], path="models/m.txt"),)

    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        text = context.run_file(spec.data_spec["source_run"], "models/m.txt").read_text()
        return RunResult(outputs={"read": text})


class WritesModel(Plugin):
    info = PluginInfo(key="writes_model")

    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        (context.artifact_dir / "models").mkdir()
        (context.artifact_dir / "models" / "m.txt").write_text("weights")
        context.tracking.log_artifacts(context.artifact_dir / "models", "models")
        return RunResult()


REGISTRY = Registry({"needs_earlier": NeedsEarlierRun, "writes_model": WritesModel})


def _needs(root: Path, source_run: str, **kwargs):
    return run(RunSpec(plugin="needs_earlier", data_spec={"source_run": source_run}), artifact_root=root,
               registry=REGISTRY, **kwargs)


def test_a_run_id_that_names_no_run_is_bad_input_before_any_folder(tmp_path):
    with pytest.raises(RunFileNotFound, match="field 'data_spec.source_run': no run 'nope'") as caught:
        _needs(tmp_path, "nope", backend=FakeTracking(), source="s.yaml")
    assert caught.value.exit_code == 2 and "s.yaml" in str(caught.value)
    assert not (tmp_path / "runs").exists()


def test_an_earlier_run_in_the_root_passes_and_its_file_is_read(tmp_path):
    fake = FakeTracking()
    earlier = run(RunSpec(plugin="writes_model"), artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    assert _needs(tmp_path, earlier.run_id, backend=fake).outputs == {"read": "weights"}


def test_an_earlier_run_without_the_file_is_read_from_tracking_or_named(tmp_path):
    """Its folder lacks the file: tracking has the run, so the file is fetched; with tracking that knows
    no such run, the error names the folder that lacks it."""
    fake = FakeTracking()
    earlier = run(RunSpec(plugin="writes_model"), artifact_root=tmp_path, registry=REGISTRY, backend=fake)
    (earlier.run_dir / "models" / "m.txt").unlink()
    assert _needs(tmp_path, earlier.run_id, backend=fake).outputs == {"read": "weights"}
    with pytest.raises(RunFileNotFound, match=f"runs/{earlier.run_id} has no models/m.txt"):
        _needs(tmp_path, earlier.run_id, backend=FakeTracking())
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_an_earlier_run_known_only_to_tracking_passes(tmp_path):
    """Its folder is gone (another machine, cleaned up): tracking holds it, so the run fetches the file."""
    fake = FakeTracking()
    earlier = run(RunSpec(plugin="writes_model"), artifact_root=tmp_path / "a", registry=REGISTRY, backend=fake)
    assert _needs(tmp_path / "b", earlier.run_id, backend=fake).outputs == {"read": "weights"}


def test_an_embedded_store_that_does_not_exist_yet_is_not_created_to_look(tmp_path):
    with pytest.raises(RunFileNotFound, match="no tracking store at"):
        _needs(tmp_path, "20260101-000000-000-abcdef")
    assert not (tmp_path / "mlflow").exists() and not (tmp_path / "runs").exists()


def test_offline_the_run_goes_ahead_and_says_what_is_missing(tmp_path):
    """A server that cannot be asked now (offline): the run goes ahead and reports the missing file itself."""
    outcome = _needs(tmp_path, "nope", tracking_uri="offline:http://127.0.0.1:9")
    assert outcome.status.value == "FAILED" and "nope" in (outcome.error or "")


@pytest.mark.parametrize("bad", ["../x", "a/b", ".", ""])
def test_a_run_id_that_is_a_path_is_refused(tmp_path, bad):
    with pytest.raises((SpecError, BadInput)):
        _needs(tmp_path, bad, backend=FakeTracking())
    assert not (tmp_path / "runs").exists()
