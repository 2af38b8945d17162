"""How every command prints: aligned tables and JSON. Commands import this, never `core.cli`
(the CLI dispatches to the commands, so the reverse import would be a cycle)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

from core._files import dumps, json_safe
from core._redact import redact


def print_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], *, indent: str = "") -> None:
    """Columns aligned by their widest cell, two spaces apart; no trailing blanks."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print((indent + "  ".join(c.ljust(w) for c, w in zip(row, widths))).rstrip())


def print_json(data: Any) -> None:
    """Indented strict JSON on stdout, by core's one JSON rule (`core._files.json_safe`: enums as their
    values, NaN and the infinities as strings, anything else JSON lacks as its text), URI credentials
    removed from every string (`core._redact.redact`; keys are metric and param names here)."""
    sys.stdout.write(dumps(redact(json_safe(data), keys=False)) + "\n")


def format_value(value: object) -> str:
    """A value as the CLI shows it: floats to 4 significant digits (0.9649), the rest as text."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return "-" if value is None else str(value)
