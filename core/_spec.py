"""Read spec files (YAML, JSON, TOML) into a validated `RunSpec`, and apply
command-line overrides (`--set data_spec.model.max_depth=5`).

Errors name the file, the field and what is allowed. Only safe loaders are used.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core._errors import SpecError, SpecErrors
from core._tracking.model_uri import NAME_RE, alias_problem
from core._tracking.values import MAX_KEY_LENGTH, MAX_TAG_VALUE_LENGTH
from core.contracts import RunSpec

SPEC_FIELDS = ("plugin", "data_spec", "seed", "name", "experiment", "tags", "register")
REGISTER_FIELDS = ("name", "alias", "tags")
_NAME_ALLOWED = "a model name: letters, digits, '_', '-', '.' (up to 250), starting with a letter or digit"
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
# A spec is a few kilobytes; anything this large is a mistake, not a config.
MAX_SPEC_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
# ... and so is one that expands to this many values: a YAML alias bomb is a few lines that expand
# to billions. Counted as the spec expands (each alias as often as it is used), so refusing is quick.
MAX_SPEC_VALUES = 100_000
# Tag names core and MLflow set themselves: a spec cannot spoof them (`mlcore.run_id`, `plugin`) or
# make MLflow refuse the run (`mlflow.runName` differing from the run name).
RESERVED_TAG_PREFIXES = ("mlflow.", "mlcore.")
RESERVED_TAGS = ("plugin", "pipeline")
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_SEED_RANGE = (0, 2**32 - 1)  # what numpy and torch accept


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Parse a spec file into a plain mapping; the format follows the suffix."""
    path = Path(path)
    source = str(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if path.is_dir():  # before the suffix: a folder has none, and "unknown spec file type" would mislead
        raise SpecError("is a directory, not a spec file (give the path of a .yaml, .json or .toml file in it)",
                        source=source)
    if kind is None:
        raise SpecError(
            f"unknown spec file type '{path.suffix or '(none)'}'",
            source=source,
            allowed=sorted(SUFFIXES),
        )
    if not path.exists():
        raise SpecError("file not found", source=source)
    if not path.is_file():
        raise SpecError("not a file", source=source)
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB", source=source)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", source=source) from None
    data = _parse(text, kind, source)
    if data is None:
        raise SpecError("file is empty", source=source)
    if not isinstance(data, dict):
        raise SpecError(f"top level must be a mapping, not {_type_name(data)}", source=source)
    _check_shape(data, source)
    check_user_tags(data.get("tags"), source)
    return data


def _parse(text: str, kind: str, source: str) -> Any:
    try:
        if kind == "json":
            return json.loads(text)
        if kind == "toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            return tomllib.loads(text)
        import yaml

        return yaml.safe_load(text)
    except RecursionError:
        raise SpecError("nesting is too deep", source=source) from None
    except Exception as exc:  # noqa: BLE001 - each parser has its own error type; all mean "malformed"
        raise _syntax_error(exc, kind, text, source) from None


def _syntax_error(exc: Exception, kind: str, text: str, source: str) -> SpecError:
    """`file:LINE:COL: invalid YAML: what is wrong: 'the offending line'`, from any parser's error."""
    line = column = None
    problem = " ".join(str(exc).split())
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:  # PyYAML's MarkedYAMLError
        line, column = mark.line + 1, mark.column + 1
        problem = getattr(exc, "problem", None) or problem
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line != mark.line:
            problem += f" ({context} started at line {context_mark.line + 1})"
    elif isinstance(getattr(exc, "lineno", None), int):  # json.JSONDecodeError
        line, column, problem = exc.lineno, getattr(exc, "colno", None), getattr(exc, "msg", problem)  # type: ignore[attr-defined]
    else:  # tomllib says "(at line 3, column 7)"
        found = re.search(r"\(at line (\d+), column (\d+)\)", problem)
        if found:
            line, column = int(found.group(1)), int(found.group(2))
            problem = problem[: found.start()].strip()
    where = source if line is None else f"{source}:{line}" + (f":{column}" if column else "")
    message = f"invalid {kind.upper()}: {problem[:200]}"
    lines = text.splitlines()
    if line is not None and 0 < line <= len(lines) and lines[line - 1].strip():
        message += f": {lines[line - 1].strip()[:120]!r}"
    return SpecError(message, source=where)


def load_spec(
    path: str | Path,
    *,
    overrides: Iterable[str] = (),
    seed: int | None = None,
) -> RunSpec:
    """Read, override and validate a spec file in one step (what `core run` does)."""
    data = read_spec_file(path)
    data = apply_overrides(data, overrides, source=str(path))
    if seed is not None:
        data["seed"] = seed
    return spec_from_mapping(data, source=str(path))


def spec_from_mapping(data: Mapping[str, Any], *, source: str = "<spec>") -> RunSpec:
    """Validate a mapping's shape and types and build the `RunSpec`. Every field is checked, and
    all the mistakes found are raised together (`SpecErrors`), or the one alone."""
    if not isinstance(data, Mapping):
        raise SpecError(f"spec must be a mapping, not {_type_name(data)}", source=source)
    _check_shape(data, source)
    found = _Found()
    for key in data:
        if key not in SPEC_FIELDS:
            found.add(SpecError("unknown field", source=source, field=str(key), allowed=SPEC_FIELDS, got=key))
    plugin = found.check(lambda: _plugin_key(data, source))
    data_spec = found.check(lambda: _data_spec(data, source))
    seed = found.check(lambda: _seed(data, source))
    name = found.check(lambda: _text_field(data, "name", source))
    experiment = found.check(lambda: _text_field(data, "experiment", source))
    tags = found.check(lambda: _tags(data, source))
    register = found.check(lambda: parse_register(data.get("register"), source=source))
    found.raise_any(source)
    return RunSpec(
        plugin=plugin,
        data_spec=copy.deepcopy(dict(data_spec)),
        seed=seed,
        name=name,
        experiment=experiment,
        tags=tags,
        register=register,
    )


class _Found:
    """The spec errors found so far: each field is checked on its own, so all are reported at once."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def add(self, error: SpecError) -> None:
        self.errors.append(error)

    def check(self, parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except SpecErrors as exc:
            self.errors.extend(exc.errors)
        except SpecError as exc:
            self.errors.append(exc)
        return None

    def raise_any(self, source: str) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SpecErrors(self.errors, source=source)


def _plugin_key(data: Mapping[str, Any], source: str) -> str:
    plugin = data.get("plugin")
    if plugin is None:
        raise SpecError("is required", source=source, field="plugin")
    if not isinstance(plugin, str) or not _KEY_RE.match(plugin):
        raise SpecError(
            f"must be a plugin key, got {plugin!r}",
            source=source,
            field="plugin",
            allowed="letters, digits, '_', '-', '.'",
        )
    return plugin


def _data_spec(data: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    data_spec = data.get("data_spec", {})
    if data_spec is None:
        data_spec = {}
    if not isinstance(data_spec, Mapping):
        raise SpecError(f"must be a mapping, not {_type_name(data_spec)}", source=source, field="data_spec")
    _check_keys(data_spec, source, "data_spec")
    return data_spec


def _seed(data: Mapping[str, Any], source: str) -> int | None:
    seed = data.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SpecError(f"must be an integer, not {_type_name(seed)}", source=source, field="seed")
        if not _SEED_RANGE[0] <= seed <= _SEED_RANGE[1]:
            raise SpecError(f"{seed} is out of range", source=source, field="seed", allowed="0 to 2**32-1")
    return seed


def _text_field(data: Mapping[str, Any], field: str, source: str) -> str | None:
    """`name` or `experiment`: a string MLflow keeps as it is."""
    value = _optional_str(data, field, source)
    if field == "experiment" and value is not None and not value.strip():
        raise SpecError("must not be blank", source=source, field="experiment")
    if value is not None and (len(value) > 250 or any(ord(c) < 32 for c in value)):
        raise SpecError("must be at most 250 characters, without control characters", source=source, field=field)
    return value


def _tags(data: Mapping[str, Any], source: str) -> dict[str, str]:
    tags = data.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise SpecError(f"must be a mapping, not {_type_name(tags)}", source=source, field="tags")
    clean_tags: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise SpecError(f"bad tag name {key!r}", source=source, field="tags", allowed="letters, digits, '_', '-', '.'")
        if len(key) > MAX_KEY_LENGTH:
            raise SpecError(f"tag name '{key[:40]}...' is {len(key)} characters, MLflow keeps at most {MAX_KEY_LENGTH}",
                            source=source, field="tags")
        clean_tags[key] = _tag_value(value, source, f"tags.{key}")
    return clean_tags


def parse_register(value: Any, *, source: str, field: str = "register") -> dict[str, Any] | None:
    """The spec's `register:`: a model name (`churn`, or `churn@champion`), or `{name: NAME, alias: ALIAS,
    tags: {...}}`, as `{"name", "alias", "tags"}`; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        name, sep, alias = value.partition("@")
        return _register(name, alias if sep else None, {}, source, field, field)
    if not isinstance(value, Mapping):
        raise SpecError(f"must be a model name or a mapping, not {_type_name(value)}", source=source, field=field,
                        allowed="NAME, NAME@ALIAS or {name: NAME, alias: ALIAS, tags: {...}}")
    unknown = [str(k) for k in value if k not in REGISTER_FIELDS]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"{field}.{unknown[0]}", allowed=REGISTER_FIELDS)
    name, alias, tags = value.get("name"), value.get("alias"), value.get("tags") or {}
    if name is None:
        raise SpecError("is required", source=source, field=f"{field}.name", allowed=_NAME_ALLOWED)
    if alias is not None and not isinstance(alias, str):
        raise SpecError(f"must be a string, not {_type_name(alias)}", source=source, field=f"{field}.alias")
    if not isinstance(tags, Mapping):
        raise SpecError(f"must be a mapping, not {_type_name(tags)}", source=source, field=f"{field}.tags")
    return _register(name, alias, tags, source, field, f"{field}.name")


def _register(name: Any, alias: str | None, tags: Mapping[Any, Any], source: str, field: str,
              name_field: str) -> dict[str, Any]:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"{name!r} is not a model name", source=source, field=name_field, allowed=_NAME_ALLOWED)
    if alias is not None:
        problem = alias_problem(alias)
        if problem:
            raise SpecError(f"{alias!r} is not an alias: {problem}", source=source, field=f"{field}.alias")
    clean: dict[str, str] = {}
    for key, value in tags.items():
        where = f"{field}.tags"
        if not isinstance(key, str) or not _KEY_RE.match(key) or len(key) > MAX_KEY_LENGTH:
            raise SpecError(f"bad tag name {key!r}", source=source, field=where, allowed="letters, digits, '_', '-', '.'")
        if key.startswith(RESERVED_TAG_PREFIXES) or key in ("plugin", "headline_metric"):
            raise SpecError("is reserved: core sets it on the version", source=source, field=f"{where}.{key}")
        clean[key] = _tag_value(value, source, f"{where}.{key}")
    return {"name": name, "alias": alias or None, "tags": clean}


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str], *, source: str = "<spec>") -> dict[str, Any]:
    """Apply Hydra-style `dotted.key=value` overrides; values are parsed as YAML scalars.

    Top-level keys must be spec fields; keys below `data_spec` and `tags` may be
    new (the plugin's own validation rejects typos there with its allowed keys).
    """
    result = copy.deepcopy(dict(data))
    for item in overrides:
        origin = f"--set {item}"
        if "=" not in item:
            raise SpecError("expected KEY=VALUE", source=origin)
        key, _, raw = item.partition("=")
        set_dotted(result, key.strip(), parse_scalar(raw), origin=origin)
    return result


def override_behind(error: SpecError, overrides: Sequence[str]) -> str | None:
    """The `--set KEY=VALUE` that gave `error`'s field its value (the field, one inside it, or one it is
    inside), if one did: an error found later, by the plugin's own checks, names the spec file, and
    the value in it is not the one that was refused."""
    field = error.field
    for item in reversed(overrides):  # the last one given wins
        key = item.partition("=")[0].strip()
        if field and key and (field == key or field.startswith(key + ".") or key.startswith(field + ".")):
            return item
    return None


def set_dotted(result: dict[str, Any], key: str, value: Any, *, origin: str) -> None:
    """Set `data_spec.model.max_depth`-style `key` in a spec mapping, in place; `--set` and sweeps use it.
    Below `tags` the rest is one tag name (`tags.data.source` sets the tag `data.source`)."""
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise SpecError(f"bad key {key!r}", source=origin, allowed="dotted names like data_spec.model.max_depth")
    if parts[0] not in SPEC_FIELDS:
        raise SpecError("unknown field", source=origin, field=parts[0], allowed=SPEC_FIELDS)
    if parts[0] not in ("data_spec", "tags", "register") and len(parts) > 1:
        raise SpecError("has no sub-keys", source=origin, field=parts[0])
    if parts[0] == "tags":
        parts = parts[:1] + [".".join(parts[1:])] if len(parts) > 1 else parts
        check_user_tags({parts[1]: value} if len(parts) > 1 else value, origin)
    node: dict[str, Any] = result
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise SpecError(f"is {_type_name(child)}, cannot set '{key}' inside it", source=origin, field=where)
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def parse_scalar(raw: str) -> Any:
    """`5` -> 5, `0.1` -> 0.1, `true` -> True, `[1, 2]` -> [1, 2], anything else a string."""
    import yaml

    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    # `--set name=` means the empty string, not null; null must be written out.
    return raw if value is None and raw.strip() not in ("null", "~") else value


def _tag_value(value: Any, source: str, field: str) -> str:
    """A tag's value as MLflow keeps it: a scalar, as text, within MLflow's length."""
    if isinstance(value, (Mapping, list)):
        raise SpecError(f"must be a scalar, not {_type_name(value)}", source=source, field=field)
    text = "" if value is None else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise SpecError(f"is {len(text)} characters, MLflow keeps at most {MAX_TAG_VALUE_LENGTH}", source=source,
                        field=field)
    return text


def _optional_str(data: Mapping[str, Any], field: str, source: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"must be a string, not {_type_name(value)}", source=source, field=field)
    return value


def _check_keys(mapping: Mapping[str, Any], source: str, prefix: str) -> None:
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise SpecError(f"keys must be strings, got {key!r}", source=source, field=prefix)
        if isinstance(value, Mapping):
            _check_keys(value, source, f"{prefix}.{key}")


def check_user_tags(tags: Any, source: str) -> None:
    """Tags a user wrote (a spec or sweep file, `--set`, a sweep's grid) may not use the names core and
    MLflow set: `mlflow.*`, `mlcore.*`, `plugin`, `pipeline` (`RESERVED_TAG_PREFIXES`, `RESERVED_TAGS`)."""
    if not isinstance(tags, Mapping):
        return
    for key in tags:
        if isinstance(key, str) and (key in RESERVED_TAGS or key.startswith(RESERVED_TAG_PREFIXES)):
            raise SpecError("is reserved: core and MLflow set it", source=source, field=f"tags.{key}",
                            allowed=f"any other tag name (not {', '.join(RESERVED_TAGS)}, "
                            f"{', '.join(p + '*' for p in RESERVED_TAG_PREFIXES)})")


def _check_shape(value: Any, source: str) -> None:
    """At most `MAX_DEPTH` levels deep and `MAX_SPEC_VALUES` values as expanded: one walk that stops at the
    limit, so an alias bomb is refused after a bounded amount of work, before anything copies it."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count + len(stack) + (len(node) if isinstance(node, (Mapping, list)) else 0) > MAX_SPEC_VALUES:
            raise SpecError(f"the spec expands to more than {MAX_SPEC_VALUES:,} values (YAML aliases?); "
                            "a spec holds settings, data goes in files", source=source)
        if depth > MAX_DEPTH:
            raise SpecError(f"nesting is deeper than {MAX_DEPTH} levels", source=source)
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
