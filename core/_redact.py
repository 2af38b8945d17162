"""Credentials never reach tracking, summaries or logs: values whose key looks like one are
replaced by `REDACTED` wherever core records them (params, tags, the recorded spec)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***redacted***"
SECRET_WORDS = {"token", "password", "passwd", "pwd", "secret", "apikey", "credential", "credentials", "auth"}
SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("client", "secret")}


def is_secret_key(key: str) -> bool:
    """`data.api_key`, `HF_TOKEN`, `db.password`, `auth`: judged on the words of the last dotted
    part, so `model.max_tokens` or `data.author` stay visible."""
    words = [w for w in re.split(r"[_\-\s]+|(?<=[a-z])(?=[A-Z])", str(key).rsplit(".", 1)[-1].lower()) if w]
    return any(w in SECRET_WORDS for w in words) or any(pair in SECRET_PAIRS for pair in zip(words, words[1:]))


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with secret-looking keys' values replaced, at any depth."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if is_secret_key(key) and value not in (None, ""):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        elif isinstance(value, list):
            out[key] = [redact_mapping(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


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


_URI_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@")


def scrub(text: str) -> str:
    """`http://alice:pw@host/...` -> `http://host/...` anywhere in `text` (errors quote URLs)."""
    return _URI_CREDENTIALS.sub(r"\1", text)


class ScrubFilter(logging.Filter):
    """Removes URI credentials from every record a handler emits, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
