"""Metronome's wire format (../shared/api/README.md section 1): lenient response models
(unknown fields ignored, numbers bounded), credit types as money, and the page-sized
chunks a range is asked for in. Used by ``metronome.py``; no I/O here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator

from alerter.domain import cap_value
from alerter.money import MAX_AMOUNT, MAX_QUANTITY, check_amount, parse_amount
from alerter.timeparse import floor_time

USD_CENTS_ID = "2714e483-4ff1-48e4-9e25-ac732e8f24f2"
"""Metronome's fiat credit type: amounts are US cents."""
USD_CENTS_NAME = "USD (cents)"
DAILY_PAGE_WINDOWS = 35
"""Daily windows one breakdowns page holds (a daily range is asked for in such chunks)."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _CreditType(_Loose):
    id: str
    name: str


class _LineItem(_Loose):
    name: str
    total: Decimal
    credit_type: _CreditType
    type: str
    quantity: Decimal | None = None
    product_id: str | None = None

    @field_validator("total", mode="before")
    @classmethod
    def _sane_total(cls, value: object) -> object:
        return _bounded(value, MAX_AMOUNT)

    @field_validator("quantity", mode="before")
    @classmethod
    def _sane_quantity(cls, value: object) -> object:
        return None if value is None else _bounded(value, MAX_QUANTITY)


def _bounded(value: object, limit: Decimal) -> Decimal:
    """A JSON number (or numeric string) as a Decimal inside ``(-limit, limit)``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("not a number")
    try:
        number = parse_amount(value) if limit == MAX_AMOUNT else _any_decimal(value)
        return check_amount(number, limit)
    except ValueError as exc:
        raise ValueError(str(exc).split(":")[0]) from None


def _any_decimal(value: int | float | str | Decimal) -> Decimal:
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise ValueError("not a decimal number") from None
    return number


class _BreakdownInvoice(_Loose):
    id: str
    customer_id: str
    credit_type: _CreditType
    line_items: list[_LineItem]
    status: str
    total: Decimal
    type: str
    breakdown_start_timestamp: AwareDatetime
    breakdown_end_timestamp: AwareDatetime


class _BreakdownPage(_Loose):
    data: list[_BreakdownInvoice]
    next_page: str | None = None


class _CustomerDetail(_Loose):
    id: str
    name: str


class _CustomerPage(_Loose):
    data: list[object]
    """Validated one by one (``_CustomerDetail``): a malformed entry costs only itself."""
    next_page: str | None = None


def split_range(
    start: datetime, end: datetime, step: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """Chunks of ``[start, end)`` that fit one page: UTC days for hours, 35 days for days."""
    size = timedelta(days=1) if step < timedelta(days=1) else timedelta(days=DAILY_PAGE_WINDOWS)
    cursor = start
    while cursor < end:
        boundary = floor_time(cursor, size) + size if size == timedelta(days=1) else cursor + size
        chunk_end = min(end, boundary)
        yield cursor, chunk_end
        cursor = chunk_end


def to_money(amount: Decimal, credit_type: str, credit_type_id: str) -> tuple[Decimal, str]:
    """``(amount, currency)``: "USD (cents)" -> dollars in ``USD``; others unchanged."""
    if credit_type_id == USD_CENTS_ID or credit_type == USD_CENTS_NAME:
        return amount / 100, "USD"
    return amount, cap_value(credit_type)


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if out and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _printable(text: str, limit: int = 60) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{exc.error_count()} error(s), first at {where or 'body'}: {first['msg']}"
