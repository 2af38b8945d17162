"""How every command prints: aligned tables and JSON. Commands import this, never `core.cli`
(the CLI dispatches to the commands, so the reverse import would be a cycle)."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Sequence
from typing import Any


def print_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], *, indent: str = "") -> None:
    """Columns aligned by their widest cell, two spaces apart; no trailing blanks."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print((indent + "  ".join(c.ljust(w) for c, w in zip(row, widths))).rstrip())


def print_json(data: Any) -> None:
    """Indented JSON on stdout; enums as their values, anything else JSON lacks as its text."""
    json.dump(data, sys.stdout, indent=2, default=_plain)
    sys.stdout.write("\n")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else str(value)
