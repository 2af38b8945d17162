"""The bad-input corpus (tests/bad_inputs/cases.yaml): whatever a user types, one clear line on
stderr naming the file, field and what is allowed, exit 2, no traceback, no run folder.
And property-based: no mapping, override or file content makes spec parsing raise anything but
core's own error."""

import importlib.util
import json
import string
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core._errors import CoreError
from core._spec import apply_overrides, read_spec_file, spec_from_mapping

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def test_the_corpus_is_large_and_every_file_is_used():
    assert len(CASES) >= 40
    used = {c["file"] for c in CASES}
    on_disk = {p.name for p in CORPUS.iterdir()} - {"cases.yaml"}
    assert on_disk <= used, on_disk - used


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_bad_input(cli_env, tmp_path, case):
    if case.get("needs") and importlib.util.find_spec(case["needs"]) is None:
        pytest.skip(f"needs {case['needs']} (its plugin's extra) to reach the plugin's own validation")
    name = case["file"]
    if name == "@dir.yaml":
        path = tmp_path / "dir.yaml"
        path.mkdir()
    elif name == "@huge.yaml":
        path = tmp_path / "huge.yaml"
        path.write_text("plugin: echo\n" + "# padding\n" * 1_100_000)
    else:
        path = CORPUS / name
    proc = run_cli([case.get("command", "run"), str(path), *case["args"]], cli_env)
    err = proc.stderr.strip()
    assert proc.returncode == case["exit"], err
    assert "Traceback" not in err
    # one line per mistake: one, or `lines` for a spec with several (all reported at once)
    assert len(err.splitlines()) == case.get("lines", 1), err
    for word in case["words"]:
        assert word in err, (word, err)
    for word in case.get("absent", ()):
        assert word not in err, (word, err)
    assert not (Path(cli_env["CORE_ARTIFACT_ROOT"]) / "runs").exists()


# -- properties -------------------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8) | st.integers(), inner, max_size=4), max_leaves=20)
spec_like = st.dictionaries(st.sampled_from(["plugin", "data_spec", "seed", "name", "experiment", "tags", "x"]),
                            values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(spec_like)
def test_any_mapping_gives_a_spec_or_core_error(data):
    try:
        spec = spec_from_mapping(data)
    except CoreError:
        return
    assert isinstance(spec.plugin, str) and json.dumps(spec.to_dict(), default=str)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=string.printable, max_size=30), max_size=4))
def test_any_override_gives_a_mapping_or_core_error(overrides):
    try:
        result = apply_overrides({"plugin": "echo", "data_spec": {"a": 1}}, overrides)
    except CoreError:
        return
    assert isinstance(result, dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([".yaml", ".json", ".toml"]))
def test_any_file_content_gives_a_mapping_or_core_error(tmp_path, content, suffix):
    path = tmp_path / f"spec{suffix}"
    path.write_bytes(content)
    try:
        data = read_spec_file(path)
    except CoreError:
        return
    assert isinstance(data, dict)
