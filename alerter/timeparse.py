"""Durations (``"15m"``, ``"48h"``, ``"7d"``) and RFC 3339 timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
MAX_DURATION = timedelta(days=36500)
"""The longest duration a config or command accepts (100 years): beyond it, date
arithmetic overflows."""


def parse_duration(text: str) -> timedelta:
    """Parse ``"<int><unit>"`` with unit s, m, h, d or w; raises ValueError."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. '15m', '48h', '7d')")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration too long: {text!r} (at most 36500d, 100 years)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact ``"<int><unit>"`` spelling of ``delta``."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (or a bare date, read as UTC midnight) to aware UTC."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        if "T" in raw or " " in raw:
            raise ValueError(f"timestamp without a UTC offset: {text!r}")
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_time(value: datetime, step: timedelta) -> datetime:
    """Floor ``value`` to a multiple of ``step`` counted from the Unix epoch (UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int((value - epoch).total_seconds())
    size = int(step.total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % size)


def _coerce_duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    return value


def _coerce_time(value: object) -> object:
    if isinstance(value, str):
        return parse_time(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp without a UTC offset")
        return value.astimezone(UTC)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""A pydantic field type: ``"15m"``, ``"48h"``, ``"7d"`` in config, a timedelta in code."""

Timestamp = Annotated[
    datetime,
    BeforeValidator(_coerce_time),
    PlainSerializer(format_time, return_type=str),
]
"""A pydantic field type: an RFC 3339 string in config, an aware UTC datetime in code."""
