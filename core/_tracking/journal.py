"""The write-ahead journal of a run's tracking calls, kept in the run folder.

Every call a run makes is appended to `tracking/journal.jsonl` *before* it is
sent, and `tracking/state.json` records how far the backend has acknowledged.
So a crash, a kill or a tracking server that is down loses nothing: what is
past the watermark is pending, and `core sync` sends it later. Records are
replayed in order and each is sent once; MLflow also ignores an identical
metric point sent twice, which makes a retry after a crash harmless.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from core._files import atomic_write_json
from core._layout import RunLayout
from core._safefiles import regular_file

#: one compact line per record (made once: `json.dumps` with options builds an encoder per call, and a
#: run may journal tens of thousands of metric points)
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=True).encode


class Journal:
    """Append-only record of one run's tracking calls plus the sent watermark."""

    def __init__(self, run_dir: Path) -> None:
        layout = RunLayout(Path(run_dir))
        self.dir = layout.journal_dir
        self.path = layout.journal
        self.state_path = layout.tracking_state
        self._fd: int | None = None
        self._size = 0  # bytes of whole records: a failed append is cut back to this
        self._seq = 0
        #: what the records say of the run's life: whether it has a `start`, the `outcome` the run
        #: decided (journaled before its final summary), and the `end` call that sends it
        self.started = False
        self.outcome: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        #: the `register` record (a FINISHED run's model to register, journaled after its end)
        self.register: dict[str, Any] | None = None
        #: line numbers of journal lines that are not records (corrupted on disk): sent around, reported
        self.corrupt_lines: list[int] = []
        self.state: dict[str, Any] = {"sent_seq": 0, "backend_run_id": None}
        # The state is written by whichever thread sends (a recorder's sender thread) and by the runner:
        # one at a time, as both write the same temporary file beside it.
        self._state_lock = threading.Lock()
        # Only regular files inside the run folder are opened: a FIFO put in a journal's place would
        # block every reader (`core sync <id>` hung on one), and a link could lead anywhere.
        run_dir = Path(run_dir)
        for path in (self.path, self.state_path):
            if os.path.lexists(path) and regular_file(path, run_dir) is None:
                raise OSError(f"{path.relative_to(run_dir)} is not a regular file in the run folder")
        if self.state_path.exists():
            self.state.update(json.loads(self.state_path.read_text(encoding="utf-8")))
        if self.path.exists():
            for record in read_records(self.path, corrupt=self.corrupt_lines):
                self._note(record)

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def sent_seq(self) -> int:
        return int(self.state.get("sent_seq", 0))

    def append(self, op: str, **fields: Any) -> dict[str, Any]:
        """Write one record and push it to the OS (it survives the process being killed).

        All or nothing: when the write fails (a full disk), what it wrote is cut off again and the
        error raised, so no later record is ever glued to half of this one.
        """
        if self._fd is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            self._size = os.fstat(self._fd).st_size
        record = {"seq": self._seq + 1, "op": op, **fields}
        data = (_encode(record) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:  # the torn line is then skipped by every reader and trimmed by repair
                pass
            raise
        self._size += len(data)
        self._note(record)
        return record

    def _note(self, record: dict[str, Any]) -> None:
        self._seq = max(self._seq, record["seq"])
        op = record.get("op")
        if op == "start":
            self.started = True
        elif op == "outcome":
            self.outcome = record
        elif op == "end":
            self.end = record
        elif op == "register":
            self.register = record

    def records(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """Records with `seq > after`, in order. A torn last line (a kill mid-write) is skipped, and so
        is a line corrupted on disk (`corrupt_lines` says which): the records around it are sent."""
        return read_records(self.path, after=after, corrupt=[])

    def pending(self) -> list[dict[str, Any]]:
        return list(self.records(after=self.sent_seq))

    def mark_sent(self, seq: int, **state: Any) -> None:
        with self._state_lock:
            self.state.update(state)
            self.state["sent_seq"] = max(self.sent_seq, seq)
            atomic_write_json(self.state_path, self.state)

    def update_state(self, **state: Any) -> None:
        with self._state_lock:
            self.state.update(state)
            atomic_write_json(self.state_path, self.state)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


#: disk space a run sets aside for recording how it ended (`reserve_space`)
RESERVE_BYTES = 256 * 1024


def reserve_space(run_dir: Path) -> None:
    """Set `RESERVE_BYTES` aside in the run folder (`tracking/reserve`) until the run ends: a disk
    that fills during the run still has room for its outcome, end call, error file and summary
    once `release_space` frees it. Without the room, the run goes on without a reserve."""
    path = RunLayout(run_dir).reserve
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(os.urandom(RESERVE_BYTES))  # random bytes: no file system compresses them away
    except OSError:
        release_space(run_dir)


def release_space(run_dir: Path) -> None:
    """Free the run's reserve (`reserve_space`): when the run ends, or a sync or repair finds it left."""
    try:
        RunLayout(run_dir).reserve.unlink(missing_ok=True)
    except OSError:
        pass


def trim_torn_tail(path: Path) -> None:
    """Cut a torn last line (a kill mid-append: never a complete call) off the journal, in place.

    `os.truncate` at the last newline: the complete records before it are never rewritten, so a
    process killed while trimming cannot lose them (rewriting the file could, and did).
    """
    fh = _open_regular(path)
    if fh is None:
        return  # missing, or not a regular file (a FIFO would block): nothing a trim may touch
    with fh:
        size = os.fstat(fh.fileno()).st_size
        end = size
        while end > 0:
            start = max(0, end - 65536)
            fh.seek(start)
            chunk = fh.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            end = start
    if end != size:
        os.truncate(path, end)


def has_end(path: Path, *, tail_bytes: int = 65536) -> bool | None:
    """Whether the journal holds the run's end call; None when it has no start (nothing to end).

    Reads the file's first line and its last `tail_bytes` only: the end call is journaled last.
    """
    try:
        opened = _open_regular(path)
        if opened is None:
            return None
        with opened as fh:
            first = fh.readline()
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - tail_bytes))
            tail = fh.read()
    except OSError:
        return None
    if b'"op":"start"' not in first:
        return None
    for line in tail.split(b"\n")[-64:]:
        if b'"op":"end"' in line:
            try:
                if json.loads(line).get("op") == "end":
                    return True
            except ValueError:
                continue
    return False


def read_records(path: Path, *, after: int = 0, skip_corrupt: bool = False,
                 corrupt: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """The complete records of a journal file with `seq > after`, in order.

    A last line without its newline was torn by a kill mid-write and never counts. A line that
    is not a record (bytes corrupted on disk: not UTF-8, not JSON, not a journal record) raises,
    unless `skip_corrupt` (readers that only display, like `core runs`) or `corrupt`, a list its
    line numbers are added to (`core sync`: one bad line must not keep every other record of the
    run from being sent). A journal that is not a regular file is read as empty.
    """
    fh = _open_regular(path)
    if fh is None:
        return
    with fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw.decode("utf-8"))  # strictly: a flipped byte is no altered name
                seq = record["seq"]
                if not isinstance(seq, int) or not isinstance(record.get("op"), str):
                    raise ValueError("not a journal record")
            except (ValueError, TypeError, KeyError):  # UnicodeDecodeError and JSONDecodeError included
                if skip_corrupt:
                    continue
                if corrupt is not None:
                    corrupt.append(number)
                    continue
                raise
            if seq > after:
                yield record


def _open_regular(path: Path) -> BinaryIO | None:
    """`path` opened for binary reading if it is a regular file; None if it is missing or not a regular
    file (opened without blocking, so a FIFO put in its place cannot hang the reader)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None  # (one that cannot be read raises, as before: that is a damaged record, said so)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")
