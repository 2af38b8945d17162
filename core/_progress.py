"""A one-line progress bar on the console, for epochs and sweeps.

Drawn on stderr only when it is a terminal, so log files, CI output and piped
runs stay clean; `CORE_PROGRESS=1` forces it on and `CORE_PROGRESS=0` off.
Standard library only: plugins and core use it without adding a dependency.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

PROGRESS_ENV = "CORE_PROGRESS"


def progress_enabled(stream: TextIO | None = None) -> bool:
    forced = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class ProgressBar:
    """`with ProgressBar(total=20, desc="epochs") as bar: bar.update(1, loss=0.3)`.

    Redraws at most ten times a second; when disabled every call is a no-op.
    """

    def __init__(self, total: int | None, *, desc: str = "", stream: TextIO | None = None,
                 enabled: bool | None = None, width: int = 24) -> None:
        self.total, self.desc, self.width = total, desc, width
        self.stream = stream or sys.stderr
        self.enabled = progress_enabled(self.stream) if enabled is None else enabled
        self.done = 0
        self.postfix: dict[str, Any] = {}
        self._started = time.monotonic()
        self._last_draw = 0.0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, postfix: Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.done += n
        self.postfix.update(postfix or {}, **fields)
        self._draw(force=self.total is not None and self.done >= self.total)

    def set_postfix(self, postfix: Mapping[str, Any] | None = None, **fields: Any) -> None:
        self.postfix.update(postfix or {}, **fields)
        self._draw()

    def write(self, text: str, stream: TextIO | None = None) -> None:
        """Print a line above the bar (a sweep's failure, say) without tearing the bar."""
        stream = stream or sys.stdout
        if self.enabled and self._last_draw:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
        print(text, file=stream, flush=True)
        if self.enabled and self._last_draw:
            self._draw(force=True)

    def close(self) -> None:
        if self.enabled and self._last_draw:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._last_draw = 0.0

    def line(self) -> str:
        elapsed = time.monotonic() - self._started
        parts = [self.desc] if self.desc else []
        if self.total:
            filled = int(self.width * min(self.done, self.total) / self.total)
            parts.append(f"|{'#' * filled}{'.' * (self.width - filled)}| {self.done}/{self.total}")
            if 0 < self.done < self.total:
                parts.append(f"eta {_clock(elapsed / self.done * (self.total - self.done))}")
        else:
            parts.append(str(self.done))
        parts.append(_clock(elapsed))
        parts += [f"{k}={_short(v)}" for k, v in self.postfix.items()]
        return " ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
