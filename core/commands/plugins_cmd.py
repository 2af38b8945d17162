"""`core plugins ...`: what is installed, without importing any heavy library."""

from __future__ import annotations

import argparse
import sys

from core.cli import print_json
from core.registry import Registry


def list_command(args: argparse.Namespace) -> int:
    entries = list(Registry().entries())
    if args.json:
        print_json(
            [
                {
                    "key": e.key,
                    "version": e.version,
                    "description": e.info.description if e.info else None,
                    "extra": e.info.extra if e.info else None,
                    "extra_installed": e.extra_installed if e.info else None,
                    "target": e.target,
                    "error": e.error,
                }
                for e in entries
            ]
        )
        return 0
    if not entries:
        print("no plugins installed (built-ins come with mlcore; see README)")
        return 0
    rows = [("KEY", "VERSION", "EXTRA", "DESCRIPTION")]
    for e in entries:
        if e.error:  # reported and skipped: one broken plugin must not hide the others
            print(f"warning: skipped {e.error}", file=sys.stderr)
            continue
        extra = e.info.extra or "-"
        if e.info.requires:
            extra += "" if e.extra_installed else f' (missing: pip install "mlcore[{e.info.extra}]")'
        rows.append((e.key, e.version or "-", extra, e.info.description))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip())
    return 0
