"""`core plugins ...`: what is installed, without importing any heavy library."""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from core._commands._output import print_json, print_table
from core._errors import BadInput
from core._install import install_hint
from core._registry import Registry
from core.contracts import ConfigField


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
    rows = []
    for e in entries:
        if e.error:  # reported and skipped: one broken plugin must not hide the others
            print(f"warning: skipped {e.error}", file=sys.stderr)
            continue
        extra = e.info.extra or "-"
        if e.info.requires:
            extra += "" if e.extra_installed else f" (missing: {install_hint(e.info.extra, missing=e.missing)})"
        rows.append((e.key, e.version or "-", extra, e.info.description))
    print_table(("KEY", "VERSION", "EXTRA", "DESCRIPTION"), rows)
    return 0


def show_command(args: argparse.Namespace) -> int:
    registry = Registry()
    cls = registry.load(args.key)
    entry = registry.entry(args.key)
    info = cls.info
    folder = Path(sys.modules[cls.__module__].__file__).resolve().parent
    readme = folder / "README.md"
    examples = sorted((folder / "examples").glob("*.yaml")) if (folder / "examples").is_dir() else []
    fields = [{"name": f.name, "type": f.type, "default": f.default, "allowed": f.allowed, "help": f.help,
               "when": f.when} for f in cls.config_fields]
    if args.json:
        print_json({"key": info.key, "version": entry.version, "description": info.description, "extra": info.extra,
                    "extra_installed": entry.extra_installed, "missing": entry.missing, "target": entry.target,
                    "distribution": entry.distribution, "config": fields,
                    "examples": [str(p) for p in examples], "readme": str(readme) if readme.is_file() else None})
        return 0
    width = _terminal_width()
    print(f"{info.key} {entry.version or ''}".rstrip())
    print(textwrap.fill(info.description, width, initial_indent="  ", subsequent_indent="  "))
    _print_line("class", f"{entry.target} ({entry.distribution or 'not installed as a distribution'})", width)
    if info.extra:
        state = "installed" if entry.extra_installed else f'missing {", ".join(entry.missing)}: {install_hint(info.extra, missing=entry.missing)}'
        _print_line("extra", f"{info.extra} ({state})", width)
    _print_line("readme", str(readme) if readme.is_file() else "(none)", width)
    if fields:
        print("\nconfig (data_spec):")
        _print_fields(cls.config_fields, width)
    else:
        print("\nconfig: the plugin declares no config_fields")
    if examples:
        print("\nexamples:")
        for path in examples:
            print(f"  {path}")
        print(f"\n{examples[0].name}:")
        print("  " + examples[0].read_text(encoding="utf-8").strip().replace("\n", "\n  "))
    if readme.is_file() and not args.no_readme:
        print(f"\nREADME ({readme.name}):")
        for line in readme_as_text(readme.read_text(encoding="utf-8"), width - 2):
            print(f"  {line}".rstrip())
    return 0


def _print_line(label: str, value: str, width: int) -> None:
    """`  label:   value`, wrapped within `width`; a value with no room beside its label goes beneath it."""
    head = f"  {label + ':':<9}"
    if len(head) + len(value) <= width:
        print(head + value)
    elif len(head) + max(map(len, value.split())) <= width:
        print(textwrap.fill(value, width, initial_indent=head, subsequent_indent=" " * len(head)))
    else:
        print(head.rstrip())
        print(textwrap.fill(value, width, initial_indent="    ", subsequent_indent="    ", break_long_words=False))


def _terminal_width() -> int:
    """The terminal's width ($COLUMNS first, as shells set it), 100 when it cannot be told."""
    return max(40, shutil.get_terminal_size((100, 24)).columns)


def _print_fields(fields: Sequence[ConfigField], width: int) -> None:
    """One row per field when the table fits `width`; else two lines per field: name, type, default and
    what is allowed, then its help wrapped and indented beneath."""
    rows = []
    for f in fields:
        allowed = ", ".join(map(str, f.allowed)) if isinstance(f.allowed, tuple) else (f.allowed or "")
        notes = "; ".join(x for x in (f.help, f"when {f.when}" if f.when else "") if x)
        rows.append((f.name, f.type, "" if f.default is None else str(f.default), allowed, notes))
    header = ("FIELD", "TYPE", "DEFAULT", "ALLOWED", "NOTES")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    if 2 + sum(widths) + 2 * (len(widths) - 1) <= width:
        print_table(header, rows, indent="  ")
        return
    for name, type_, default, allowed, notes in rows:
        head = f"  {name}  {type_}" + (f" = {default}" if default else "")
        print(textwrap.fill(head + (f"  ({allowed})" if allowed else ""), width, subsequent_indent="      "))
        if notes:
            print(textwrap.fill(notes, width, initial_indent="      ", subsequent_indent="      "))


def readme_as_text(markdown: str, width: int) -> list[str]:
    """A README as plain text for the terminal, within `width`: headings underlined, paragraphs and list
    items joined and wrapped, code blocks kept as they are (indented), a table too wide for the terminal
    shown as one wrapped line per row, links shown as their text."""
    out: list[str] = []
    block: list[str] = []  # the lines of the paragraph or list item being read
    indent = ""
    table: list[list[str]] = []

    def flush() -> None:
        nonlocal indent
        if block:
            out.extend(textwrap.wrap(" ".join(block), width, initial_indent=indent,
                                     subsequent_indent=" " * len(indent)) or [""])
            block.clear()
        indent = ""
        if table:
            out.extend(_table_text(table, width))
            table.clear()

    in_code = False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code:
            out.append("    " + line)
            continue
        text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line).replace("**", "")
        if text.lstrip().startswith("|"):
            if block:
                flush()
            cells = [c.strip() for c in text.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):  # not the |---| rule
                table.append(cells)
            continue
        heading = re.match(r"#+\s+(.*)", text)
        item = re.match(r"(\s*)([-*]|\d+\.)\s+(.*)", text)
        if not text.strip() or heading or item or table:
            flush()
        if heading:
            out += ["", heading.group(1), "-" * min(len(heading.group(1)), width)]
        elif item:
            indent = item.group(1) + item.group(2) + " "
            block.append(item.group(3))
        elif not text.strip():
            if out and out[-1]:
                out.append("")
        else:
            block.append(text.strip())
    flush()
    while out and not out[0]:
        out.pop(0)
    return out


def _table_text(rows: list[list[str]], width: int) -> list[str]:
    """A Markdown table as it is when it fits, else each row as `first: the rest` wrapped."""
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(map(len, rows)))]
    if sum(widths) + 3 * len(widths) <= width:
        return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    header, *body = rows
    out = []
    for row in body:
        rest = "; ".join(f"{h.lower()}: {c}" if h else c for h, c in zip(header[1:], row[1:]) if c)
        out.extend(textwrap.wrap(f"{row[0]}: {rest}" if rest else row[0], width, initial_indent="- ",
                                 subsequent_indent="  "))
    return out


def new_command(args: argparse.Namespace) -> int:
    from core._scaffold import scaffold

    written = scaffold(args.name, dest=args.dest)
    for path in written:
        print(f"wrote {path}")
    if args.dest:
        install = f"pip install -e {args.dest}"
        spec = Path(args.dest) / args.name / "examples" / "smoke.yaml"
    else:
        install = "pip install -e .   # registers the new entry point"
        spec = written[0].parent / "examples" / "smoke.yaml"
    print(f"\nnext:\n  {install}\n  core plugins check {args.name}\n  core run {spec}")
    return 0


def check_command(args: argparse.Namespace) -> int:
    from core._plugin_check import run_checks, target_for

    keys = [e.key for e in Registry().entries() if not e.error] if args.all else args.keys
    if not keys:
        raise BadInput("name plugins to check, or --all")
    report = {key: run_checks(target_for(key)) for key in keys}
    failed = {key: [c for c in checks if not c.ok] for key, checks in report.items()}
    if args.json:
        print_json({key: {"ok": not failed[key], "checks": [c.to_dict() for c in checks]}
                    for key, checks in report.items()})
    else:
        for key, checks in report.items():
            print(f"{key}: {'all checks pass' if not failed[key] else f'{len(failed[key])} of {len(checks)} checks fail'}")
            for c in checks:
                print(f"  {'skip' if c.skipped else 'pass' if c.ok else 'FAIL'}  {c.name:<22} {c.reason}"
                      + (f"\n        {'':<22} see {c.where}" if c.where and not c.ok else ""))
    return 0 if not any(failed.values()) else 1
