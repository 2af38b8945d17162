"""`core runs fetch RUN_ID`: a remote run's folder, from the tracking server (`core._sweep.fetch`)."""

from __future__ import annotations

import argparse

from core._commands._output import print_json
from core._settings import artifact_root
from core._sweep.fetch import fetch_run


def fetch_command(args: argparse.Namespace) -> int:
    fetched = fetch_run(artifact_root(args.artifact_root), args.run_id, tracking_uri=args.tracking_uri)
    if args.json:
        print_json({"run_id": fetched.run_id, "folder": str(fetched.folder), "files": fetched.files,
                    "already_here": fetched.already})
    elif fetched.already:
        print(f"run {fetched.run_id}: its folder is already here ({fetched.folder})")
    else:
        print(f"run {fetched.run_id}: {fetched.files} files fetched into {fetched.folder}")
    return 0
