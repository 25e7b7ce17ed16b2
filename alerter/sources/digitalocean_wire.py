"""DigitalOcean's billing insights wire format (../shared/api/README.md section 2): the
series dimensions, request chunks (one account, at most 31 days) and what they cover,
one page's parts, one data point as (series key, day, amount), an error body's fields,
and the UTC day arithmetic. Used by ``digitalocean.py``; no I/O here."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from alerter.domain import CostPoint, Coverage, SeriesKey, make_key
from alerter.errors import BadResponse
from alerter.money import parse_amount

DIMENSIONS = (
    "account_urn",
    "sku",
    "region",
    "description",
    "group_description",
    "usage_team_urn",
)
"""The dimensions of every DigitalOcean series key."""

_DAY = timedelta(days=1)
MAX_SPAN_DAYS = 31


@dataclass(frozen=True, slots=True)
class Chunk:
    """One request range of one account: ``first``..``last`` inclusive, <= 31 days."""

    account_urn: str
    first: date
    last: date

    @property
    def path(self) -> str:
        return f"/v2/billing/{self.account_urn}/insights/{self.first}/{self.last}"

    def coverage(self, points: list[CostPoint], settled_before: datetime) -> Coverage | None:
        """The days this chunk answered for, or None.

        Days ending after ``settled_before`` count only up to the newest day that has
        data: DigitalOcean publishes a day late, so trailing days with no data at all
        are "not reported yet" (unknown), not zero.
        """
        end = _midnight(self.last) + _DAY
        if end > settled_before:
            newest = max((p.end for p in points), default=_midnight(self.first))
            settled = max(_midnight(self.first), _floor_day(settled_before))
            end = min(end, max(newest, settled))
        if end <= _midnight(self.first):
            return None
        return Coverage(_midnight(self.first), end, (("account_urn", self.account_urn),))

    def coverages(
        self, points: list[CostPoint], settled_before: datetime, unknown: Iterable[date] = ()
    ) -> list[Coverage]:
        """``coverage`` with the ``unknown`` days (an unreadable data point) left out."""
        whole = self.coverage(points, settled_before)
        if whole is None:
            return []
        spans: list[Coverage] = []
        start = whole.start
        for day in sorted(set(unknown)):
            hole = _midnight(day)
            if hole >= whole.end:
                break
            if hole > start:
                spans.append(Coverage(start, hole, whole.scope))
            start = max(start, hole + _DAY)
        if start < whole.end:
            spans.append(Coverage(start, whole.end, whole.scope))
        return spans


def split_days(since: datetime, until: datetime, today: date) -> list[tuple[date, date]]:
    """Inclusive day ranges of <= 31 days covering every UTC day overlapping [since, until).

    Days after ``today`` are left out: no API can have answered for them yet.
    """
    first = since.astimezone(UTC).date()
    end = until.astimezone(UTC)
    last = end.date() if end.time() != datetime.min.time() else end.date() - _DAY
    last = min(last, today)
    ranges: list[tuple[date, date]] = []
    while first <= last:
        stop = min(last, first + timedelta(days=MAX_SPAN_DAYS - 1))
        ranges.append((first, stop))
        first = stop + _DAY
    return ranges


class _BadPoint(BadResponse):
    """A data point that cannot count, on a known day of its chunk: only that day of
    the account is left unknown (no points, no coverage), not the whole chunk."""

    def __init__(self, message: str, day: date) -> None:
        super().__init__(message)
        self.day = day


def _page_parts(body: object, where: str) -> tuple[list[object], int, int, int]:
    """``(data_points, total_items, total_pages, current_page)`` or ``BadResponse``."""
    if not isinstance(body, dict):
        raise BadResponse(f"{where}: body is not a JSON object")
    data = body.get("data_points")
    if not isinstance(data, list):
        raise BadResponse(f"{where}: data_points is missing or not a list")
    numbers: list[int] = []
    for name in ("total_items", "total_pages", "current_page"):
        value = body.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadResponse(f"{where}: {name} is missing or not a count: {value!r}")
        numbers.append(value)
    return data, numbers[0], numbers[1], numbers[2]


def _parse_point(raw: object, chunk: Chunk, where: str) -> tuple[SeriesKey, date, Decimal]:
    """``(key, day, amount)``; ``BadResponse`` when the day is unknown, ``_BadPoint``
    (carrying the day) when only the amount or a dimension is unreadable."""
    if not isinstance(raw, dict):
        raise BadResponse(f"{where}: not a JSON object")
    day_text = raw.get("start_date")
    try:
        day = date.fromisoformat(day_text) if isinstance(day_text, str) else None
    except ValueError:
        day = None
    if day is None or len(str(day_text)) != 10:
        raise BadResponse(f"{where}: start_date is not YYYY-MM-DD: {day_text!r}")
    if not chunk.first <= day <= chunk.last:
        raise BadResponse(f"{where}: start_date {day} is outside {chunk.first}..{chunk.last}")
    try:
        amount = parse_amount(raw.get("total_amount"))
    except ValueError as exc:
        shown = repr(raw.get("total_amount"))
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        problem = (
            "is out of range (|x| >= 1e15)" if "range" in str(exc) else "is not a decimal number"
        )
        raise _BadPoint(f"{where}: total_amount {problem}: {shown}", day) from None
    dims = {"account_urn": chunk.account_urn}
    for name in DIMENSIONS[1:]:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise _BadPoint(f"{where}: {name} is not a string: {shown}", day)
        dims[name] = value or ""
    return make_key(dims), day, amount


def _error_fields(content: bytes) -> tuple[str, str, str]:
    """DigitalOcean's error body ``(id, message, request_id)``; ``-`` where absent."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = " ".join(content[:200].decode("utf-8", "replace").split())
        return "-", text or "(empty body)", "-"
    error_id, message, request_id = (
        " ".join(str(body[name]).split()) if body.get(name) is not None else "-"
        for name in ("id", "message", "request_id")
    )
    return error_id, message, request_id


def _floor_day(when: datetime) -> datetime:
    return _midnight(when.astimezone(UTC).date())


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
