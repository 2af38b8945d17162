"""Credentials never reach tracking, summaries, reports, output or logs: one function, `redact`,
replaces values whose key looks like a credential's by `REDACTED` and strips `user:password@` from
every string, wherever core records or prints them (params, tags, the recorded spec and outputs, the
tracking URI, `--json` output); `scrub` does the string part for log records and error messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***redacted***"
# A key is a credential's when one of its words is one of these (`HF_TOKEN`, `sessionToken`,
# `Authorization`, `set-cookie`), when two of its words make one (`api_key`, `awsAccessKey`), or when
# it runs one of the unambiguous ones together with others (`PGPASSWORD`, `keypassphrase`).
SECRET_WORDS = {"token", "password", "passwd", "pwd", "passphrase", "secret", "secrets", "apikey", "credential",
                "credentials", "auth", "authorization", "cookie", "cookies", "bearer"}
SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("client", "secret"),
                ("session", "key"), ("signing", "key"), ("encryption", "key"), ("ssh", "key"), ("master", "key"),
                ("account", "key")}
SECRET_RUNS = ("password", "passwd", "passphrase", "apikey", "accesskey", "privatekey", "secretkey",
               "authorization", "accesstoken", "authtoken", "sessiontoken", "refreshtoken", "apitoken", "credential")
_WORDS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def is_secret_key(key: str) -> bool:
    """`data.api_key`, `HF_TOKEN`, `sessionToken`, `PGPASSWORD`, `auth`: judged on the words of the last
    dotted part, split at separators and camelCase, so `model.max_tokens`, `tokenizer` or `data.author`
    stay visible."""
    last = str(key).rsplit(".", 1)[-1]
    words = [w.lower() for w in _WORDS.split(last) if w]
    flat = "".join(words)
    return (any(w in SECRET_WORDS for w in words) or any(pair in SECRET_PAIRS for pair in zip(words, words[1:]))
            or any(run in flat for run in SECRET_RUNS))


def redact(value: Any, *, keys: bool = True) -> Any:
    """The one redaction for everything core writes, prints or logs: a copy of `value` in which, at any
    depth (mappings, lists and tuples in one another), values under secret-looking keys are `REDACTED`
    (with `keys`) and every string has URI credentials removed (`scrub`). Containers that hold
    themselves are cut where they recur."""
    return _redact(value, keys, set())


def _redact(value: Any, keys: bool, path: set[int]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if not isinstance(value, (Mapping, list, tuple)):
        return value
    if id(value) in path:
        return "[...]"
    path.add(id(value))
    try:
        if isinstance(value, Mapping):  # with `keys`, a key is a string like any other: a URI in it is scrubbed
            return {(scrub(k) if keys and isinstance(k, str) else k):
                    REDACTED if keys and isinstance(k, str) and is_secret_key(k) and not _blank(v)
                    else _redact(v, keys, path) for k, v in value.items()}
        items = [_redact(v, keys, path) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    finally:
        path.discard(id(value))


def _blank(value: Any) -> bool:
    """None or "": nothing to hide (`is`/`==` on str only: an array's `==` has no single truth)."""
    return value is None or (isinstance(value, str) and value == "")


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """`redact` for a mapping (params, tags, a spec): a dict."""
    return dict(redact(values))


def changed_fields(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted names (list items by index) where `after`, `redact(before)`, differs from `before`: the
    fields a record cannot give back, a key's value hidden or a URI's credentials removed without a
    mark. Both are JSON-safe values (`core._files.json_safe`), so every comparison is of plain data;
    names are made of `after`'s keys, which hold no credentials."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        if len(before) != len(after):  # two keys that differed only in credentials became one
            return [prefix.rstrip(".") or "."]
        found = []
        for (key, value), (shown_key, shown) in zip(before.items(), after.items()):
            name = f"{prefix}{shown_key}"
            found += [name] if key != shown_key else changed_fields(value, shown, f"{name}.")
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        found = []
        for index, (value, shown) in enumerate(zip(before, after)):
            found += changed_fields(value, shown, f"{prefix}{index}.")
        return found
    return [] if before == after else [prefix.rstrip(".")]


def redacted_fields(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields `redact_mapping` hid, e.g. for `core rerun` to ask for."""
    found = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if value == REDACTED:
            found.append(name)
        elif isinstance(value, Mapping):
            found += redacted_fields(value, f"{name}.")
    return found


# `scheme://user:password@` or `scheme://token@` (a token often stands as the user), and a bare
# `user:password@host` (connection strings without a scheme).
_URI_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/?#\s@]+@")
_BARE_CREDENTIALS = re.compile(r"(?<![\w.%+\-/@:])[\w.%+\-]+:[^\s/@:]+@(?=[\w\-\[])")


def scrub(text: str) -> str:
    """`http://alice:pw@host/...` -> `http://host/...` anywhere in `text` (errors quote URLs), and
    `alice:pw@db:5432` -> `db:5432`."""
    if "@" not in text:
        return text
    return _BARE_CREDENTIALS.sub("", _URI_CREDENTIALS.sub(r"\1", text))


class ScrubFilter(logging.Filter):
    """Removes URI credentials from every record a handler emits, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def scrub_record(record: logging.LogRecord) -> None:
    """A log record's message and traceback without URI credentials (the traceback is formatted now,
    scrubbed, and kept where handlers look for it)."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record whose arguments do not fit its format: logging reports that itself
        return
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(_FORMATTER.formatException(record.exc_info))


_FORMATTER = logging.Formatter()


def scrub_every_record() -> None:
    """Scrub every log record this process makes, whoever logs it and whichever handler shows it
    (MLflow installs its own): for the `core` command, which owns its process."""
    make = logging.getLogRecordFactory()
    if getattr(make, "scrubs", False):
        return

    def scrubbed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        scrub_record(record)
        return record

    scrubbed.scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(scrubbed)
