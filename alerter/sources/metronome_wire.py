"""Metronome's wire format (../shared/api/README.md section 1): lenient response models
(unknown fields ignored, numbers bounded), credit types as money, and the page-sized
chunks a range is asked for in. Used by ``metronome.py``; no I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import msgspec
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
    if is_cents(credit_type, credit_type_id):
        return amount / 100, "USD"
    return amount, cap_value(credit_type)


def is_cents(credit_type: str, credit_type_id: str) -> bool:
    """Whether amounts in this credit type are US cents (``to_money`` makes them dollars)."""
    return credit_type_id == USD_CENTS_ID or credit_type == USD_CENTS_NAME


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


# -- the fast reader -------------------------------------------------------------------
# A page as plain tuples, read straight from the parsed JSON (dicts, ints, Decimals) by
# one loop, without a pydantic model per object: about 10x cheaper on a 72-line page.
# It accepts only the exact shape the API documents (strings, integer or Decimal
# amounts, whole-second RFC 3339 stamps); anything else returns None and the page goes
# through the pydantic models above, which accept what they always did and name the
# field at fault when they do not.

Line = tuple[str, str, int | Decimal, str, str, int | Decimal | None, str]
"""A line item: (type, name, total, credit type name, credit type id, quantity or None,
product id or ""); a JSON integer may stay an ``int`` (exact either way)."""
Invoice = tuple[str, str, int, int, list[Line]]
"""A BreakdownInvoice: (id, customer id, window start, window end (Unix seconds), lines)."""

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)")
_STAMPS_KEPT = 100_000


def _number(value: object, limit: Decimal) -> Decimal | None:
    """An int or Decimal JSON number inside ``(-limit, limit)``, else None (slow path)."""
    if type(value) is int:
        number = Decimal(value)
    elif type(value) is Decimal:
        number = value
    else:
        return None
    try:
        return check_amount(number, limit)
    except ValueError:
        return None


def _seconds(value: object, stamps: dict[str, int]) -> int | None:
    """A whole-second RFC 3339 stamp as Unix seconds (memoised in ``stamps``), else None."""
    if type(value) is not str:
        return None
    found = stamps.get(value)
    if found is None:
        if not _STAMP.fullmatch(value):
            return None
        found = int(datetime.fromisoformat(value).timestamp())
        if len(stamps) >= _STAMPS_KEPT:
            stamps.clear()
        stamps[value] = found
    return found


def _credit(value: object) -> tuple[str, str] | None:
    if type(value) is not dict:
        return None
    cid, name = value.get("id"), value.get("name")
    return (cid, name) if type(cid) is str and type(name) is str else None


def fast_page(body: object, stamps: dict[str, int]) -> tuple[list[Invoice], str | None] | None:
    """``(invoices, next_page)`` of a breakdowns page in the documented shape, or None
    when anything differs (the caller then validates it with ``_BreakdownPage``)."""
    if type(body) is not dict:
        return None
    data, cursor = body.get("data"), body.get("next_page")
    if type(data) is not list or not (cursor is None or type(cursor) is str):
        return None
    out: list[Invoice] = []
    for row in data:
        if type(row) is not dict:
            return None
        inv_id, customer, items = row.get("id"), row.get("customer_id"), row.get("line_items")
        if type(inv_id) is not str or type(customer) is not str or type(items) is not list:
            return None
        if type(row.get("status")) is not str or type(row.get("type")) is not str:
            return None
        if _credit(row.get("credit_type")) is None or type(row.get("total")) not in (int, Decimal):
            return None
        lo = _seconds(row.get("breakdown_start_timestamp"), stamps)
        hi = _seconds(row.get("breakdown_end_timestamp"), stamps)
        if lo is None or hi is None:
            return None
        lines: list[Line] = []
        for item in items:
            if type(item) is not dict:
                return None
            kind, name = item.get("type"), item.get("name")
            product, raw_qty = item.get("product_id"), item.get("quantity")
            credit = _credit(item.get("credit_type"))
            total = _number(item.get("total"), MAX_AMOUNT)
            qty = None if raw_qty is None else _number(raw_qty, MAX_QUANTITY)
            if (
                type(kind) is not str
                or type(name) is not str
                or credit is None
                or total is None
                or (raw_qty is not None and qty is None)
                or not (product is None or type(product) is str)
            ):
                return None
            lines.append((kind, name, total, credit[1], credit[0], qty, product or ""))
        out.append((inv_id, customer, lo, hi, lines))
    return out, cursor


def slow_page(page: _BreakdownPage) -> list[Invoice]:
    """The validated models as ``Invoice`` tuples; ``ValueError`` for a window stamp
    with a fraction of a second (windows are whole seconds)."""
    out: list[Invoice] = []
    for inv in page.data:
        lo, hi = inv.breakdown_start_timestamp, inv.breakdown_end_timestamp
        if lo.microsecond or hi.microsecond:
            raise ValueError(f"invoice {inv.id}: window stamps must be whole seconds")
        lines: list[Line] = [
            (
                line.type,
                line.name,
                line.total,
                line.credit_type.name,
                line.credit_type.id,
                line.quantity,
                line.product_id or "",
            )
            for line in inv.line_items
        ]
        out.append((inv.id, inv.customer_id, int(lo.timestamp()), int(hi.timestamp()), lines))
    return out


# -- the typed decoder -----------------------------------------------------------------
# msgspec decodes the page bytes straight into these structs in C (JSON integers as
# ints, other numbers as exact Decimals, unknown fields skipped): about 3x cheaper than json.loads and a loop over the
# dicts. A body it rejects goes the plain-JSON way above, so every error message is the
# one the pydantic models give. The structs hold only strings, Decimals and each other
# (never a cycle), so they are left out of the cyclic garbage collector (gc=False): a
# poll keeps thousands of pages' worth alive at once, and the collector walking them
# cost more than decoding them.


class _TypedCredit(msgspec.Struct, gc=False):
    id: str
    name: str


class _TypedLine(msgspec.Struct, gc=False):
    name: str
    total: int | Decimal
    credit_type: _TypedCredit
    type: str
    quantity: int | Decimal | None = None
    product_id: str | None = None


class _TypedInvoice(msgspec.Struct, gc=False):
    id: str
    customer_id: str
    credit_type: _TypedCredit
    line_items: list[_TypedLine]
    status: str
    total: int | Decimal
    type: str
    breakdown_start_timestamp: str
    breakdown_end_timestamp: str


class TypedPage(msgspec.Struct, gc=False):
    """A breakdowns page as ``decode_page`` gives it."""

    data: list[_TypedInvoice]
    next_page: str | None = None


_PAGE_DECODER = msgspec.json.Decoder(TypedPage)


def decode_page(content: bytes) -> TypedPage | None:
    """A breakdowns body as a ``TypedPage``, or None when it is not that shape (an
    ``http.TypedDecoder``)."""
    try:
        return _PAGE_DECODER.decode(content)
    except msgspec.MsgspecError:
        return None


def typed_page(page: TypedPage, stamps: dict[str, int]) -> tuple[list[Invoice], str | None] | None:
    """``(invoices, next_page)`` of a decoded page, or None when a value is outside what
    ``fast_page`` accepts (out-of-range amount, odd stamp): then read it as plain JSON
    with ``msgspec.to_builtins`` and the models decide."""
    out: list[Invoice] = []
    # check_amount's test, inline (a call per number cost more than the rest of the
    # loop): finite first, then comparisons, which never round or signal
    low_amount, high_amount, low_qty, high_qty = (
        -MAX_AMOUNT,
        MAX_AMOUNT,
        -MAX_QUANTITY,
        MAX_QUANTITY,
    )
    for inv in page.data:
        lo = _seconds(inv.breakdown_start_timestamp, stamps)
        hi = _seconds(inv.breakdown_end_timestamp, stamps)
        if lo is None or hi is None or not (isinstance(inv.total, int) or inv.total.is_finite()):
            return None
        lines: list[Line] = []
        for line in inv.line_items:
            total, qty = line.total, line.quantity
            if not (
                (isinstance(total, int) or total.is_finite()) and low_amount < total < high_amount
            ):
                return None
            if qty is not None and not (
                (isinstance(qty, int) or qty.is_finite()) and low_qty < qty < high_qty
            ):
                return None
            credit = line.credit_type
            lines.append(
                (line.type, line.name, total, credit.name, credit.id, qty, line.product_id or "")
            )
        out.append((inv.id, inv.customer_id, lo, hi, lines))
    return out, page.next_page


def page_builtins(page: TypedPage) -> object:
    """A decoded page as plain JSON values (Decimals kept), for the models."""
    return msgspec.to_builtins(page, builtin_types=(Decimal,))
