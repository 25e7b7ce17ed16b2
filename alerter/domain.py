"""The domain: cost points, series keys, windows, anomalies, incidents, notifications.

Times are aware UTC datetimes; windows are half-open ``[start, end)``. Money is
``Decimal`` here; detection converts to float64 internally and back.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

SeriesKey = tuple[tuple[str, str], ...]
"""A series' dimensions as sorted ``(name, value)`` pairs."""


MAX_DIMENSION_VALUE = 256
"""Longest dimension value kept in a series key (characters). A longer value (a 100 KB
customer name) is stored as its first characters, ``…#`` and 12 hex digits of its
SHA-256, exactly ``MAX_DIMENSION_VALUE`` long: distinct values stay distinct series and
the same value gives the same key every cycle."""


def cap_value(value: str) -> str:
    """``value``, or its capped form when longer than ``MAX_DIMENSION_VALUE``."""
    if len(value) <= MAX_DIMENSION_VALUE:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    marker = f"…#{digest}"
    return value[: MAX_DIMENSION_VALUE - len(marker)] + marker


def make_key(dims: Mapping[str, str] | Iterable[tuple[str, str]]) -> SeriesKey:
    """Build a canonical (sorted, string-valued) series key; values capped (``cap_value``)."""
    items = dims.items() if isinstance(dims, Mapping) else dims
    return tuple(sorted((str(k), cap_value("" if v is None else str(v))) for k, v in items))


def key_to_str(key: SeriesKey) -> str:
    """``a=1,b=2``: the stored and logged form of a key (values may contain anything)."""
    return ",".join(f"{name}={value}" for name, value in key)


def key_json(key: SeriesKey) -> str:
    """The stored form of a key: JSON list of ``[name, value]`` pairs, compact, UTF-8."""
    return json.dumps([list(pair) for pair in key], separators=(",", ":"), ensure_ascii=False)


def key_from_json(text: str) -> SeriesKey:
    """The key ``key_json`` (or a columnar source writing the same JSON) stored."""
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def key_get(key: SeriesKey, name: str, default: str = "") -> str:
    for k, v in key:
        if k == name:
            return v
    return default


def project_key(key: SeriesKey, names: Iterable[str]) -> SeriesKey:
    """Keep only the dimensions in ``names`` (missing ones become empty strings)."""
    wanted = list(names)
    present = dict(key)
    return tuple(sorted((name, present.get(name, "")) for name in wanted))


def key_matches(key: SeriesKey, match: Mapping[str, str | list[str]]) -> bool:
    """True when every filter holds; a filter is an exact value or glob, or a list of them."""
    present = dict(key)
    for name, wanted in match.items():
        value = present.get(name)
        if value is None:
            return False
        patterns = [wanted] if isinstance(wanted, str) else wanted
        if not any(fnmatch.fnmatchcase(value, p) for p in patterns):
            return False
    return True


@dataclass(frozen=True, slots=True)
class CostPoint:
    """Spend of one series in one window ``[start, end)``."""

    source: str
    key: SeriesKey
    start: datetime
    end: datetime
    amount: Decimal
    quantity: Decimal | None = None
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class Coverage:
    """Windows in ``[start, end)`` that the source answered for, within ``scope``.

    Inside covered windows a series without a point is zero spend; outside them it is
    unknown. ``scope`` restricts coverage to series whose key contains all of its pairs
    (e.g. one Metronome customer); the empty scope covers every series of the source.
    """

    start: datetime
    end: datetime
    scope: SeriesKey = ()


class Direction(enum.StrEnum):
    UP = "up"
    DOWN = "down"


class Reason(enum.StrEnum):
    """Why a lifecycle or notify decision was taken; carried into logs, metrics, messages."""

    FIRST = "first"
    ESCALATED = "escalated"
    LATE_DATA = "late_data"
    REPEAT_DUE = "repeat_due"
    RESOLVED = "resolved"
    SILENCED = "silenced"
    ACKNOWLEDGED = "acknowledged"
    """Someone acknowledged the incident from a chat message (sent to on-call notifiers)."""
    NONE = "none"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Contributor:
    """One child series of an anomalous group, ranked by its share of the delta."""

    key: SeriesKey
    observed: Decimal
    expected: Decimal
    delta: Decimal
    share: float


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One flagged window of one (rule, group)."""

    rule: str
    group: SeriesKey
    window_start: datetime
    window_end: datetime
    observed: Decimal
    expected: Decimal
    lower: Decimal
    upper: Decimal
    score: float
    direction: Direction
    currency: str = "USD"
    contributors: tuple[Contributor, ...] = ()
    partial: bool = False

    @property
    def delta(self) -> Decimal:
        return self.observed - self.expected


@dataclass(frozen=True, slots=True)
class Incident:
    """An anomaly's lifetime for one (rule, group); ``status`` is ``open`` or ``resolved``."""

    id: int
    rule: str
    group: SeriesKey
    status: str
    severity: Severity
    opened_at: datetime
    first_window: datetime
    last_window: datetime
    last_anomalous_window: datetime
    observed: Decimal
    expected: Decimal
    peak_score: float
    normal_streak: int
    excess: Decimal
    currency: str = "USD"
    resolved_at: datetime | None = None
    last_notified_at: datetime | None = None
    revision: int = 0
    notified_delta: Decimal = Decimal(0)
    provisional: bool = False
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One window of a group's recent history, for charts."""

    start: datetime
    observed: float | None
    expected: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True, slots=True)
class Notification:
    """What a notifier is asked to deliver about one incident event.

    ``event`` is the ``Reason`` that caused it. Untrusted text (group values,
    contributor keys) is raw here; renderers escape it.
    """

    incident_id: int
    rule: str
    group: SeriesKey
    source: str
    event: Reason
    severity: Severity
    window_start: datetime
    window_end: datetime
    observed: Decimal
    expected: Decimal
    lower: Decimal
    upper: Decimal
    score: float
    direction: Direction
    currency: str = "USD"
    contributors: tuple[Contributor, ...] = ()
    partial: bool = False
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    excess: Decimal = Decimal(0)
    history: tuple[HistoryPoint, ...] = field(default=())
    step_seconds: int = 3600
    outcome: str = ""
    """For an early alert once its window settled: ``confirmed`` or ``withdrawn``."""
    first_window: datetime | None = None
    """Start of the incident's first anomalous window (the span a resolved notice shows)."""
    last_anomalous_window: datetime | None = None
    """Start of the incident's last anomalous window."""

    @property
    def delta(self) -> Decimal:
        return self.observed - self.expected

    @property
    def delta_pct(self) -> float | None:
        if self.expected == 0:
            return None
        return float((self.observed - self.expected) / abs(self.expected) * 100)
