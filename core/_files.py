"""Writing files so that readers see the old version or the new one, never half of one; and the one
rule for what core writes as JSON.

Used for every file core rewrites in place: run summaries, the journal's state, a sweep's
state, plan and results. `json_safe` is the JSON rule for those files and for every `--json`
output: strict JSON (RFC 8259) that any parser reads, whatever a plugin handed over.
"""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: what NaN and the infinities are written as (JSON has no such numbers): the spellings JavaScript
#: and Python's own `float()` read back
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
MAX_DEPTH = 100
TRUNCATED = "...(truncated)"


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/mlcore` (default `~/.cache/mlcore`): what core keeps for the user between runs
    (the entry-point cache, the migrated-store template, the tracking services' control sockets)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlcore"


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Any) -> None:
    """`data` as indented strict JSON (`json_safe`), atomically (see `atomic_write_text`)."""
    atomic_write_text(path, dumps(data) + "\n")


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """`data` as strict JSON text: `json_safe` first, so this never raises and never writes NaN."""
    return json.dumps(json_safe(data), indent=indent, allow_nan=False)


def json_safe(value: Any, *, max_bytes: int | None = None) -> Any:
    """What JSON can say of `value`, never raising: NaN and the infinities become the strings in
    `NON_FINITE`; numpy and torch scalars their numbers; tuples and sets lists; anything else its
    text (`repr`, or its type name when even that raises). A container that holds itself becomes
    "[...]" where it recurs; nesting deeper than `MAX_DEPTH` and, with `max_bytes`, whatever comes
    after roughly that many bytes of output become `TRUNCATED`."""
    budget = [max_bytes if max_bytes is not None else math.inf]
    return _safe(value, budget, set(), 0)


def numbers_back(value: Any) -> Any:
    """`value` as read from core's JSON with the `NON_FINITE` spellings floats again: a recorded spec to
    be run again (a config field of `.inf` was recorded "Infinity"; as a string a plugin refuses it)."""
    if isinstance(value, str):
        return float(value) if value in _FROM_SPELLING else value
    if isinstance(value, Mapping):
        return {key: numbers_back(item) for key, item in value.items()}
    if isinstance(value, list):
        return [numbers_back(item) for item in value]
    return value


_FROM_SPELLING = frozenset(NON_FINITE.values())


def truncated_fields(value: Any, prefix: str = "") -> list[str]:
    """Dotted names where `json_safe(..., max_bytes=...)` cut `value` short (`TRUNCATED`): a record that
    is not what was given, e.g. a spec too big to run again from its summary."""
    if isinstance(value, str):
        return [prefix.rstrip(".")] if value.endswith(TRUNCATED) else []
    where = prefix.rstrip(".")
    if isinstance(value, Mapping):
        inner = [name for key, item in value.items() if key != TRUNCATED
                 for name in truncated_fields(item, f"{prefix}{key}.")]
        return inner + ([f"{where}'s last keys" if where else "the last keys"] if TRUNCATED in value else [])
    if isinstance(value, list):
        inner = [name for index, item in enumerate(value) if item != TRUNCATED
                 for name in truncated_fields(item, f"{prefix}{index}.")]
        return inner + ([where or "the list"] if value and value[-1] == TRUNCATED else [])
    return []


def _safe(value: Any, budget: list[float], path: set[int], depth: int) -> Any:
    if budget[0] <= 0 or depth > MAX_DEPTH:
        return TRUNCATED
    if value is None or isinstance(value, bool):
        budget[0] -= 5
        return value
    if isinstance(value, int):
        budget[0] -= 8
        return int(value)  # an int subclass (an IntEnum) as its number
    if isinstance(value, float):
        budget[0] -= 12
        return float(value) if math.isfinite(value) else NON_FINITE[repr(float(value))]
    if isinstance(value, str):
        budget[0] -= len(value) + 2
        return value if budget[0] >= 0 else value[: max(0, int(len(value) + budget[0]))] + TRUNCATED
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if id(value) in path:
            return "[...]"
        path.add(id(value))
        try:
            budget[0] -= 2
            if isinstance(value, Mapping):
                out: dict[str, Any] = {}
                for key, item in _items(value):
                    if budget[0] <= 0:
                        out[TRUNCATED] = TRUNCATED
                        break
                    name = key if isinstance(key, str) else _text(key)
                    budget[0] -= len(name) + 4
                    out[name] = _safe(item, budget, path, depth + 1)
                return out
            items = []
            for item in _iterate(value):
                if budget[0] <= 0:
                    items.append(TRUNCATED)
                    break
                items.append(_safe(item, budget, path, depth + 1))
            return items
        finally:
            path.discard(id(value))
    if isinstance(value, enum.Enum):
        return _safe(value.value, budget, path, depth + 1)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            plain = item()
        except Exception:  # noqa: BLE001 - a tensor of many elements, or a broken object: use its text
            plain = None
        if isinstance(plain, (bool, int, float, str)):
            return _safe(plain, budget, path, depth + 1)
    return _safe(_text(value), budget, path, depth + 1)


def _items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    try:
        return list(mapping.items())
    except Exception:  # noqa: BLE001 - a mapping whose iteration breaks: record nothing of it rather than fail
        return []


def _iterate(values: Any) -> list[Any]:
    try:
        return list(values)
    except Exception:  # noqa: BLE001 - as for `_items`
        return []


def _text(value: Any) -> str:
    """`str(value)`; its `repr` if that raises; its type's name if both do."""
    for render in (str, repr):
        try:
            text = render(value)
        except Exception:  # noqa: BLE001 - plugins' objects may raise anything from __str__
            continue
        if isinstance(text, str):
            return text
    return f"<unprintable {type(value).__name__}>"
