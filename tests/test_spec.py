"""Spec files: YAML, JSON and TOML read into a RunSpec; errors name file, field, allowed values."""

import json

import pytest

from core import RunSpec, SpecError
from core._spec import apply_overrides, load_spec, parse_scalar, spec_from_mapping


def test_yaml_json_and_toml_give_the_same_spec(tmp_path):
    """The three formats are interchangeable."""
    data = {"plugin": "echo", "seed": 3, "name": "n", "experiment": "e", "tags": {"purpose": "smoke"},
            "data_spec": {"model": {"max_depth": 4}}}
    (tmp_path / "s.json").write_text(json.dumps(data))
    (tmp_path / "s.yaml").write_text(
        "plugin: echo\nseed: 3\nname: n\nexperiment: e\ntags: {purpose: smoke}\ndata_spec:\n  model:\n    max_depth: 4\n"
    )
    (tmp_path / "s.toml").write_text(
        'plugin = "echo"\nseed = 3\nname = "n"\nexperiment = "e"\n[tags]\npurpose = "smoke"\n[data_spec.model]\nmax_depth = 4\n'
    )
    specs = [load_spec(tmp_path / f"s.{ext}") for ext in ("json", "yaml", "toml")]
    assert specs[0] == specs[1] == specs[2]
    assert specs[0] == RunSpec(plugin="echo", data_spec={"model": {"max_depth": 4}}, seed=3, name="n",
                               experiment="e", tags={"purpose": "smoke"})


def test_overrides_set_nested_keys_with_typed_values():
    """`--set data_spec.model.max_depth=5` parses 5 as an int and creates missing levels."""
    out = apply_overrides({"plugin": "p"}, ["data_spec.model.max_depth=5", "data_spec.model.kind=rf",
                                            "seed=7", "tags.purpose=smoke", "data_spec.flag=true"])
    assert out == {"plugin": "p", "seed": 7, "tags": {"purpose": "smoke"},
                   "data_spec": {"model": {"max_depth": 5, "kind": "rf"}, "flag": True}}


def test_parse_scalar_keeps_empty_string():
    """An empty value is the empty string; null has to be written out."""
    assert parse_scalar("") == ""
    assert parse_scalar("null") is None
    assert parse_scalar("[1, 2]") == [1, 2]
    assert parse_scalar("0.1") == 0.1


@pytest.mark.parametrize(
    "data, words",
    [
        ({"plugin": "echo", "bogus": 1}, ["field 'bogus'", "unknown field", "allowed: plugin, data_spec"]),
        ({"data_spec": {}}, ["field 'plugin'", "required"]),
        ({"plugin": 3}, ["field 'plugin'"]),
        ({"plugin": "echo", "seed": "x"}, ["field 'seed'", "integer"]),
        ({"plugin": "echo", "seed": True}, ["field 'seed'", "integer"]),
        ({"plugin": "echo", "seed": -1}, ["field 'seed'", "out of range"]),
        ({"plugin": "echo", "data_spec": [1]}, ["field 'data_spec'", "mapping"]),
        ({"plugin": "echo", "tags": "x"}, ["field 'tags'", "mapping"]),
        ({"plugin": "echo", "tags": {"a": [1]}}, ["field 'tags.a'", "scalar"]),
        ({"plugin": "echo", "name": 5}, ["field 'name'", "string"]),
        ({"plugin": "../evil"}, ["field 'plugin'", "plugin key"]),
    ],
)
def test_bad_fields_name_the_file_field_and_allowed_values(data, words):
    """Each mistake gives one line with the source, the field and what is allowed."""
    with pytest.raises(SpecError) as info:
        spec_from_mapping(data, source="spec.yaml")
    message = str(info.value)
    assert message.startswith("spec.yaml: ")
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("bad.yaml", "plugin: [unclosed", ["bad.yaml", "invalid YAML"]),
        ("bad.json", "{not json", ["bad.json", "invalid JSON"]),
        ("bad.toml", "plugin = ", ["bad.toml", "invalid TOML"]),
        ("empty.yaml", "", ["empty.yaml", "empty"]),
        ("list.yaml", "- a\n- b\n", ["list.yaml", "mapping"]),
        ("spec.txt", "plugin: echo", ["spec.txt", "unknown spec file type", ".yaml"]),
    ],
)
def test_malformed_files_are_spec_errors(tmp_path, name, content, words):
    """Parser errors become one-line SpecErrors naming the file."""
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    for word in words:
        assert word in str(info.value)


def test_missing_file_and_directory(tmp_path):
    """A missing path and a folder are reported as such."""
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(SpecError, match="is a directory, not a spec file"):
        load_spec(tmp_path / "dir.yaml")


@pytest.mark.parametrize(
    "override, words",
    [
        ("nokey", ["expected KEY=VALUE"]),
        ("bogus.x=1", ["field 'bogus'", "allowed"]),
        ("seed.x=1", ["field 'seed'", "no sub-keys"]),
        ("data_spec..x=1", ["bad key"]),
    ],
)
def test_bad_overrides(override, words):
    """Overrides fail with the flag as the source."""
    with pytest.raises(SpecError) as info:
        apply_overrides({"plugin": "p"}, [override])
    assert f"--set {override}" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_override_into_a_scalar_is_an_error():
    """Setting a key inside a value that is not a mapping names the blocking field."""
    with pytest.raises(SpecError, match="field 'data_spec.model'"):
        apply_overrides({"plugin": "p", "data_spec": {"model": "rf"}}, ["data_spec.model.depth=3"])


def test_seed_flag_overrides_file(tmp_path):
    """`--seed` wins over the file's seed."""
    path = tmp_path / "s.yaml"
    path.write_text("plugin: echo\nseed: 1\n")
    assert load_spec(path, seed=9).seed == 9
