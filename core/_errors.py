"""Core's own error types. Each carries the exit code the CLI returns for it.

Every error a user can cause by what they type or write is a `CoreError` whose
message is one line naming the culprit (file, field, allowed values).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core._install import install_hint

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
        got: object = None,
    ) -> None:
        """`got`: the value the user wrote, when `allowed` lists the choices; a close one is suggested
        ("did you mean 'n_estimators'?") and a long list of the others is then left out."""
        self.message = message
        self.source = source
        self.field = field
        self.allowed = allowed if allowed is None or isinstance(allowed, str) else tuple(allowed)
        self.got = got
        parts = []
        if source:
            parts.append(str(source))
        if field:
            parts.append(f"field '{field}'")
        text = ": ".join(parts + [message]) if parts else message
        choices = [] if self.allowed is None or isinstance(self.allowed, str) else [str(a) for a in self.allowed]
        suggested = close_matches(str(got), choices) if got is not None and choices else []
        if suggested:
            text += "; did you mean " + " or ".join(f"'{m}'" for m in suggested) + "?"
        if self.allowed is not None and not (suggested and len(choices) > MAX_LISTED_WITH_SUGGESTION):
            shown = self.allowed if isinstance(self.allowed, str) else ", ".join(choices)
            text += f" (allowed: {shown})"
        super().__init__(text)

    def located(self, spec_file: str) -> SpecError:
        """This error, naming the spec file it was found in first (a plugin's `validate` knows the
        field, not the file; one that named another file, a CSV say, keeps it after the spec's)."""
        if self.source == spec_file:
            return self
        if self.source is None:
            return SpecError(self.message, source=spec_file, field=self.field, allowed=self.allowed, got=self.got)
        return SpecError(f"{self.source}: {self.message}", source=spec_file, field=self.field, allowed=self.allowed,
                         got=self.got)


class SpecErrors(SpecError):
    """Several independent mistakes in one spec, reported together (one line each) so a user fixes
    them in one go rather than one run of `core validate` per mistake."""

    def __init__(self, errors: Sequence[SpecError], *, source: str | None = None) -> None:
        self.errors = list(errors)
        lines = [str(e) for e in self.errors]
        prefix = f"{source}: " if source else ""
        if source:
            lines = [line[len(prefix):] if line.startswith(prefix) else line for line in lines]
        super().__init__("\n  ".join([f"{len(lines)} errors:", *lines]), source=source)


#: a suggestion replaces a list of choices longer than this (19 estimator parameters say less than one)
MAX_LISTED_WITH_SUGGESTION = 8


def close_matches(word: str, choices: Iterable[str]) -> list[str]:
    """The choices `word` was probably meant to be: the same but for case and `-`/`_`, else up to two
    close spellings (`sklearn_clasifier` -> `sklearn_classifier`)."""
    def norm(text: str) -> str:
        return text.lower().replace("-", "_")

    by_norm = {norm(c): c for c in choices}
    if norm(word) in by_norm:
        return [by_norm[norm(word)]] if by_norm[norm(word)] != word else []
    import difflib  # only when a name was not found: kept out of `import core`

    return [by_norm[m] for m in difflib.get_close_matches(norm(word), list(by_norm), n=2, cutoff=0.75)]


class PluginNotFound(BadInput):
    """No installed plugin has the requested key."""

    def __init__(self, message: str, *, key: str | None = None, installed: Sequence[str] = ()) -> None:
        self.key, self.installed = key, tuple(installed)
        suggested = close_matches(key, installed) if key else []
        if suggested:
            message += "; did you mean " + " or ".join(f"'{m}'" for m in suggested) + "?"
        super().__init__(message)


class PluginLoadError(BadInput):
    """A plugin is registered but its module or class cannot be loaded."""


class MissingExtra(BadInput, ImportError):
    """A plugin needs an optional dependency that is not installed."""

    def __init__(self, *, caller: str, module: str, extra: str | None) -> None:
        self.caller = caller
        self.module = module
        self.extra = extra
        fix = install_hint(extra, missing=[module]) if extra else f"pip install {module}"
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


class RunPruned(BaseException):
    """A search's pruner stopped this run at `step` of its watched metric (`core sweep` with `search:`).

    Raised from the tracking call that logged the metric, after the values were recorded. A
    BaseException, like KeyboardInterrupt, so a plugin's `except Exception` cannot swallow it; a
    plugin's `finally` (or `except BaseException: save; raise`) runs, and the runner records the run
    PRUNED: not a failure (exit 0), everything logged kept."""

    exit_code = EXIT_OK

    def __init__(self, metric: str, step: int, value: float) -> None:
        self.metric, self.step, self.value = metric, step, value
        super().__init__(f"pruned at step {step}: {metric}={value:.6g}")


class InvalidTrackingValue(CoreError, ValueError):
    """A plugin logged a name or value that MLflow would reject or silently change."""
