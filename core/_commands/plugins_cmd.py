"""`core plugins ...`: what is installed, without importing any heavy library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core._commands._output import print_json, print_table
from core._errors import BadInput
from core._registry import Registry


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
            extra += "" if e.extra_installed else f' (missing: pip install "mlcore[{e.info.extra}]")'
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
    print(f"{info.key} {entry.version or ''}".rstrip())
    print(f"  {info.description}")
    print(f"  class:   {entry.target} ({entry.distribution or 'not installed as a distribution'})")
    if info.extra:
        state = "installed" if entry.extra_installed else f'missing {", ".join(entry.missing)}: pip install "mlcore[{info.extra}]"'
        print(f"  extra:   {info.extra} ({state})")
    print(f"  readme:  {readme if readme.is_file() else '(none)'}")
    if fields:
        print("\nconfig (data_spec):")
        rows = []
        for f in cls.config_fields:
            allowed = ", ".join(map(str, f.allowed)) if isinstance(f.allowed, tuple) else (f.allowed or "")
            notes = "; ".join(x for x in (f.help, f"when {f.when}" if f.when else "") if x)
            rows.append((f.name, f.type, "" if f.default is None else str(f.default), allowed, notes))
        print_table(("FIELD", "TYPE", "DEFAULT", "ALLOWED", "NOTES"), rows, indent="  ")
    else:
        print("\nconfig: the plugin declares no config_fields")
    if examples:
        print("\nexamples:")
        for path in examples:
            print(f"  {path}")
        print(f"\n{examples[0].name}:")
        print("  " + examples[0].read_text(encoding="utf-8").strip().replace("\n", "\n  "))
    return 0


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
