"""Logging setup: ``key=value`` text or JSON lines on stderr, secrets redacted.

Every log call in alerter reads ``log.info("event key=%s other=%d", a, b)``. The
formatters take the fields back out of that template (not out of the rendered text), so
a value holding spaces or ``=`` stays one field: text lines quote it
(``group="customer_name=Acme Inc"``), JSON lines carry it as its own key
(``{"event": "cycle_done", "source": "sample", ...}``).

``configure`` validates its arguments before touching any handler, and always installs
a ``RedactFilter`` (with the secrets known so far), so a bad level can never leave the
process logging without redaction.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from alerter.redact import all_forms

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")

_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)=(%[-#0 +]*\d*(?:\.\d+)?[sdifr])$")
_LITERAL = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)=(\S*)$")
_PLACEHOLDER = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdifr]")
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S*)')


def check_level(level: str) -> str:
    """``level`` upper-cased; raises ValueError naming the accepted levels."""
    upper = str(level).upper()
    if upper not in LEVELS:
        raise ValueError(f"unknown log level {level!r} (use one of {', '.join(LEVELS)})")
    return upper


def plain(value: object) -> str | int | float | bool | None:
    """A log field value as a person (and a JSON reader) expects it: no Python reprs."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, tuple | list | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        if items and all(isinstance(i, tuple) and len(i) == 2 for i in items):
            return ",".join(f"{k}={v}" for k, v in items)
        return ",".join(str(plain(i)) for i in items)
    return str(value)


def _percent(spec: str, value: object) -> str | int | float | bool | None:
    shown = plain(value)
    if spec[-1] in "dif" and isinstance(shown, int | float) and not isinstance(shown, bool):
        try:
            text = spec % shown
        except (TypeError, ValueError):
            return shown
        return float(text) if spec[-1] == "f" else int(float(text))
    return shown


def fields(record: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    """``(event, {key: value})`` from a record's template and arguments."""
    template = str(record.msg)
    args: tuple[object, ...]
    if isinstance(record.args, tuple):
        args = record.args
    elif record.args:
        args = (record.args,)
    else:
        args = ()
    tokens = template.split()
    placeholders = sum(len(_PLACEHOLDER.findall(t)) for t in tokens)
    if not tokens or placeholders != len(args) or _PLACEHOLDER.search(tokens[0]):
        return _from_text(record.getMessage())
    event, data, rest = tokens[0], {}, list(args)
    for token in tokens[1:]:
        field = _FIELD.match(token)
        literal = _LITERAL.match(token)
        if field:
            data[field.group(1)] = _percent(field.group(2), rest.pop(0))
        elif token.startswith("%"):  # a pre-rendered "k=v k=v" part
            data.update(_from_text("x " + str(plain(rest.pop(0))))[1])
        elif literal:
            data[literal.group(1)] = literal.group(2)
        else:
            return _from_text(record.getMessage())
    return event, data


_EVENT = re.compile(r"^[a-z][a-z0-9_.]*$")


def _from_text(message: str) -> tuple[str, dict[str, Any]]:
    event, _, rest = message.partition(" ")
    if not _EVENT.match(event):  # a library's prose ("Run time of job ... was missed")
        return "log", {"message": message}
    data: dict[str, Any] = {}
    for key, value in _PAIR.findall(rest):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        data[key] = value
    if not _PAIR.fullmatch(rest.strip()) and rest.strip() and not data:
        data["message"] = rest
    return event, data


def quote(value: object) -> str:
    """A logfmt value: bare when it is one word, else double-quoted and escaped."""
    if value is None:
        return "-"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text and not re.search(r'[\s"=\\]', text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class TextFormatter(logging.Formatter):
    """``2026-09-07T00:00:00Z INFO cycle_done source=sample points=12``."""

    def format(self, record: logging.LogRecord) -> str:
        event, data = fields(record)
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [when, record.levelname, event]
        parts += [f"{key}={quote(value)}" for key, value in data.items()]
        line = " ".join(parts)
        if record.exc_text:
            line += "\n" + record.exc_text
        elif record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, event, every field as its own key
    (a field named like one of those is prefixed ``field.``), and the whole line as
    ``message`` for people who grep."""

    def format(self, record: logging.LogRecord) -> str:
        event, data = fields(record)
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
        }
        for key, value in data.items():
            out[key if key not in out and key != "message" else f"field.{key}"] = value
        out["message"] = record.getMessage()
        if record.exc_text:
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class RedactFilter(logging.Filter):
    """Replaces any configured secret value in a record's text with ``***``.

    Each secret is matched in every form of ``alerter.redact.secret_forms``: as is and
    stripped of surrounding whitespace, URL-quoted, escaped as Python, JSON and httpx show
    it (``b'Bearer tok\\n'``) and in base64 (as an SMTP dialogue carries a password), so
    a token read from a file with a trailing newline is caught however a library quotes it.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("alerter-redact")
        self.secrets = all_forms(secrets)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _clean(self, value: object) -> object:
        if isinstance(value, str | bytes | Exception) or not isinstance(
            value, int | float | bool | type(None) | enum.Enum | datetime
        ):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            cleaned = self.redact(text)
            return cleaned if cleaned != text else value
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def current_redaction() -> RedactFilter | None:
    """The filter on alerter's handlers, if ``configure`` installed one."""
    for handler in logging.getLogger("alerter").handlers:
        for existing in handler.filters:
            if isinstance(existing, RedactFilter):
                return existing
    return None


def set_secrets(secrets: Iterable[str]) -> RedactFilter:
    """Put a fresh redaction filter with ``secrets`` on every handler of ``alerter``."""
    redactor = RedactFilter(secrets)
    for handler in logging.getLogger("alerter").handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactFilter)]:
            handler.removeFilter(old)
        handler.addFilter(redactor)
    return redactor


def configure(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] | None = None) -> None:
    """Send alerter's logs to stderr in ``fmt``; raises ValueError before changing
    anything when ``level`` or ``fmt`` is unknown. Keeps the current secrets unless
    ``secrets`` is given."""
    upper = check_level(level)
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (use text or json)")
    kept = current_redaction()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactFilter(secrets) if secrets is not None else kept or RedactFilter())
    root = logging.getLogger("alerter")
    root.handlers[:] = [handler]
    root.setLevel(upper)
    root.propagate = False
