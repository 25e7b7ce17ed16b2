"""Point rows for the columnar store: CostPoint lists and streamed tables as Arrow
batches of ``POINT_SCHEMA``, exact DECIMAL(38,10) money."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from alerter.domain import CostPoint, SeriesKey, key_from_json, key_json

log = logging.getLogger(__name__)

_TEN = Decimal("1e-10")
_LIMIT = Decimal("1e27")


def plain(value: object) -> Decimal:
    """A stored DECIMAL(38,10) without its padding zeros (``2.5000000000`` -> ``2.5``)."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()


def stored_key(text: str) -> SeriesKey:
    """``key_from_json`` of a stored key, without the JSON parser for the usual one:
    ``key_json``'s compact text whose names and values hold no escape (so no quote),
    split on its separators (half the time; a cold read names 100,000 series). Anything
    else, or a split that does not give pairs, goes through ``key_from_json``."""
    if text == "[]":
        return ()
    if "\\" not in text and text.startswith('[["') and text.endswith('"]]'):
        pairs = [tuple(pair.split('","')) for pair in text[3:-3].split('"],["')]
        if all(len(pair) == 2 for pair in pairs):
            return tuple(pairs)  # type: ignore[arg-type]
    return key_from_json(text)


def points_path(state: str) -> str:
    """The points file of a SQLite state file: ``state.db`` -> ``state.db.points.duckdb``."""
    return ":memory:" if state == ":memory:" else state + ".points.duckdb"


def _exact(value: Decimal | None) -> Decimal | None:
    """``value`` at 10 places, or None when it does not fit DECIMAL(38,10)."""
    if value is None:
        return None
    try:
        q = value.quantize(_TEN)
    except InvalidOperation:
        return None
    return q if abs(q) < _LIMIT else None


def _decimals(values: list[Decimal | None]) -> pa.Array:
    """Decimals as DECIMAL(38,10), rounded to 10 places when they have more; raises
    ``InvalidOperation`` or ``ArrowInvalid`` when one does not fit."""
    dec = pa.decimal128(38, 10)
    try:
        return pa.array(values, dec)
    except pa.ArrowInvalid:
        return pa.array([None if v is None else v.quantize(_TEN) for v in values], dec)


def points_table(points: list[CostPoint]) -> pa.Table:
    """CostPoints (API sources) as a ``POINT_SCHEMA`` table, converted by Arrow in C.
    Amounts are rounded to 10 places; a point whose amount does not fit DECIMAL(38,10)
    is dropped with an error log naming its series."""
    try:
        amounts = _decimals([p.amount for p in points])
        quantities = _decimals([p.quantity for p in points])
    except (pa.ArrowInvalid, InvalidOperation):
        kept = []
        for p in points:
            if _exact(p.amount) is None or (p.quantity is not None and _exact(p.quantity) is None):
                log.error("point_rejected source=%s series=%s amount_out_of_range", p.source, p.key)
            else:
                kept.append(p)
        points = kept
        amounts = _decimals([_exact(p.amount) for p in points])
        quantities = _decimals([_exact(p.quantity) for p in points])
    names: dict[SeriesKey, str] = {}
    for p in points:
        if p.key not in names:
            names[p.key] = key_json(p.key)
    stamp = pa.timestamp("s", tz="UTC")
    return pa.table(
        {
            "key": pa.array([names[p.key] for p in points], pa.string()),
            "start": pa.array([p.start for p in points], stamp).cast(pa.int64()),
            "end": pa.array([p.end for p in points], stamp).cast(pa.int64()),
            "amount": amounts,
            "quantity": quantities,
            "currency": pa.array([p.currency for p in points], pa.string()),
        }
    )


BATCH_ROWS = 1 << 20
"""Rows upserted at a time from a streamed table (bounds the memory of a first load)."""


def point_batches(table: pa.Table | pa.RecordBatchReader) -> Iterator[pa.Table]:
    """A table, or a stream's batches gathered into tables of about ``BATCH_ROWS`` rows."""
    if isinstance(table, pa.Table):
        if table.num_rows:
            yield table
        return
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in table:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= BATCH_ROWS:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
    if rows:
        yield pa.Table.from_batches(pending)
