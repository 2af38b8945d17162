"""Which files in a run folder core may read, embed, list or log: regular files only, every link
resolved and refused when it leaves the folder it must stay in.

A plugin (or anyone who can write into a run folder) controls what is there: a link to
`/etc/shadow`, a link to `/dev/zero`, a FIFO that blocks whoever opens it. Core reads such folders
when it lists a run's files, builds its report, logs artifacts and syncs them later, so each of
those goes through here: `regular_file` for one path, `regular_files` for a folder, `refused` for
what a plugin may not log, `read_regular` to read without blocking or running away.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path


def inside(path: Path, folder: Path) -> bool:
    """`path`, every link resolved, is `folder` (resolved too) or lies under it."""
    try:
        resolved, base = Path(path).resolve(), Path(folder).resolve()
    except (OSError, RuntimeError):  # a link loop (RuntimeError before Python 3.13)
        return False
    return resolved == base or base in resolved.parents


def regular_file(path: Path, within: Path) -> os.stat_result | None:
    """The `stat` of what `path` leads to when that is a regular file inside `within`; else None
    (missing, a folder, a FIFO, a device, a socket, or a link that leaves `within`)."""
    if not inside(path, within):
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found if stat.S_ISREG(found.st_mode) else None


def regular_files(folder: Path, within: Path) -> Iterator[tuple[Path, int]]:
    """(path, size) of every regular file under `folder`, sorted: links to files are resolved and kept
    only when they stay inside `within` and lead to a regular file; linked folders are not entered,
    and folders that cannot be read are skipped."""
    found = []
    for top, folders, names in os.walk(folder, followlinks=False):
        folders.sort()
        for name in names:
            path = Path(top) / name
            info = regular_file(path, within)
            if info is not None:
                found.append((path, info.st_size))
    yield from sorted(found)


def refused(folder: Path, within: Path) -> list[Path]:
    """What under `folder` core will not log, that a plugin asked it to: links (to files or folders) that
    leave `within`, and anything that is not a regular file (FIFOs, devices, sockets, links to them)."""
    bad = []
    for top, folders, names in os.walk(folder, followlinks=False):
        for name in sorted(folders):
            path = Path(top) / name
            if path.is_symlink() and not inside(path, within):
                bad.append(path)
        bad += [Path(top) / name for name in sorted(names) if regular_file(Path(top) / name, within) is None]
    return bad


def read_regular(path: Path, within: Path, limit: int) -> bytes | None:
    """The bytes of a regular file inside `within` of at most `limit` bytes; None for anything else.

    Opened without blocking (a FIFO swapped in after the check cannot hang the reader) and checked
    again on the open file before a byte is read; never reads more than `limit` + 1 bytes."""
    if not inside(path, within):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)
