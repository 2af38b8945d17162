"""Core's own error types. Each carries the exit code the CLI returns for it.

Every error a user can cause by what they type or write is a `CoreError` whose
message is one line naming the culprit (file, field, allowed values).
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class CoreError(Exception):
    """Base of every error core raises on purpose."""

    exit_code = EXIT_RUN_FAILED


class BadInput(CoreError):
    """Something the user supplied is wrong: exit 2, one line, no traceback."""

    exit_code = EXIT_BAD_INPUT


class SpecError(BadInput):
    """A spec file, a spec field or an override is invalid."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        allowed: Iterable[object] | str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.field = field
        self.allowed = allowed
        parts = []
        if source:
            parts.append(str(source))
        if field:
            parts.append(f"field '{field}'")
        text = ": ".join(parts + [message]) if parts else message
        if allowed is not None:
            shown = allowed if isinstance(allowed, str) else ", ".join(str(a) for a in allowed)
            text += f" (allowed: {shown})"
        super().__init__(text)

    def located(self, spec_file: str) -> SpecError:
        """This error, naming the spec file it was found in first (a plugin's `validate` knows the
        field, not the file; one that named another file, a CSV say, keeps it after the spec's)."""
        if self.source == spec_file:
            return self
        if self.source is None:
            return SpecError(self.message, source=spec_file, field=self.field, allowed=self.allowed)
        return SpecError(f"{self.source}: {self.message}", source=spec_file, field=self.field, allowed=self.allowed)


class PluginNotFound(BadInput):
    """No installed plugin has the requested key."""


class PluginLoadError(BadInput):
    """A plugin is registered but its module or class cannot be loaded."""


class MissingExtra(BadInput, ImportError):
    """A plugin needs an optional dependency that is not installed."""

    def __init__(self, *, caller: str, module: str, extra: str | None) -> None:
        self.caller = caller
        self.module = module
        self.extra = extra
        fix = f'pip install "mlcore[{extra}]"' if extra else f"pip install {module}"
        super().__init__(f"{caller} requires '{module}', which is not installed: {fix}")


class RunFileNotFound(BadInput):
    """`context.run_file` found the earlier run's file neither on disk nor in tracking."""


class ModelNotFound(BadInput):
    """`context.model` (or an input check) could not resolve an MLflow Model URI."""


class LifecycleError(CoreError):
    """A plugin tried to do what only core may do (start or end the run)."""


class TrackingError(CoreError):
    """The tracking backend refused a call or could not be reached."""


class RunInterrupted(BaseException):
    """SIGTERM arrived during a run. A BaseException, like KeyboardInterrupt,
    so that a plugin's `except Exception` cannot swallow it."""

    exit_code = EXIT_TERMINATED


class InvalidTrackingValue(CoreError, ValueError):
    """A plugin logged a name or value that MLflow would reject or silently change."""
