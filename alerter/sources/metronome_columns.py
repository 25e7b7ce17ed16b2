"""Metronome breakdowns as columns: one (customer, chunk) of ``Invoice`` tuples summed into
spend rows, and the rows of a whole poll as one Arrow table of ``POINT_SCHEMA`` (no
``CostPoint`` per point). Pure; used by ``metronome.py``.

A row is one (series, window, currency): the line items of the counted types with the
same (customer, line item name, product, credit type) in one window, summed exactly
(``Decimal``); "USD (cents)" becomes dollars. Money leaves here as DECIMAL(38,10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa

from alerter.domain import SeriesKey, cap_value, key_json
from alerter.errors import BadResponse
from alerter.money import MAX_QUANTITY, check_amount
from alerter.sources.metronome_wire import Invoice, to_money
from alerter.timeparse import format_time

_DEC = pa.decimal128(38, 10)
_TEN = Decimal("1e-10")
KeyParts = tuple[str, str, str, str, str]
"""(credit type name, customer id, customer name, line item name, product id), capped."""


@dataclass(slots=True)
class ChunkRows:
    """The spend rows of one (customer, chunk), keys local to the chunk."""

    keys: list[KeyParts] = field(default_factory=list)
    kids: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    amounts: list[Decimal] = field(default_factory=list)
    quantities: list[Decimal | None] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    last_end: int | None = None
    """End (Unix seconds) of the last window the API returned, None if none."""


def sum_chunk(
    invoices: list[Invoice],
    *,
    customer_id: str,
    customer_name: str,
    start: int,
    end: int,
    step: int,
    window: str,
    types: frozenset[str] | set[str],
) -> ChunkRows:
    """Sum one (customer, chunk)'s invoices (windows in Unix seconds) into rows.

    Raises ``BadResponse`` naming the invoice or window when an invoice belongs to
    another customer, its window is not one ``step`` inside ``[start, end)``, or a
    summed amount or quantity is out of range.
    """
    rows = ChunkRows()
    local: dict[KeyParts, int] = {}
    slots: dict[tuple[int, int, str], int] = {}
    skipped = rows.skipped
    cid, cname = cap_value(customer_id), cap_value(customer_name)
    last_end: int | None = None
    for inv_id, inv_customer, lo, hi, lines in invoices:
        if inv_customer != customer_id:
            raise BadResponse(f"invoice {inv_id} belongs to customer {inv_customer}")
        if hi - lo != step or lo < start or hi > end:
            raise BadResponse(
                f"invoice {inv_id} window {_stamp(lo)}..{_stamp(hi)} "
                f"is not a {window} inside the requested range"
            )
        if last_end is None or hi > last_end:
            last_end = hi
        for kind, name, total, credit_name, credit_id, qty, product in lines:
            low = kind.lower()
            if low not in types:
                skipped[low] = skipped.get(low, 0) + 1
                continue
            amount, currency = to_money(total, credit_name, credit_id)
            parts = (cap_value(credit_name), cid, cname, cap_value(name), cap_value(product))
            kid = local.get(parts)
            if kid is None:
                kid = local[parts] = len(rows.keys)
                rows.keys.append(parts)
            slot = slots.get((kid, lo, currency))
            if slot is None:
                slots[(kid, lo, currency)] = len(rows.kids)
                rows.kids.append(kid)
                rows.starts.append(lo)
                rows.amounts.append(amount)
                rows.quantities.append(qty)
                rows.currencies.append(currency)
                continue
            rows.amounts[slot] += amount
            if qty is not None:
                old = rows.quantities[slot]
                rows.quantities[slot] = qty if old is None else old + qty
    for i, amount in enumerate(rows.amounts):
        qty = rows.quantities[i]
        try:
            check_amount(amount)
            if qty is not None:
                check_amount(qty, MAX_QUANTITY)
        except ValueError as exc:
            raise BadResponse(
                f"window {_stamp(rows.starts[i])}: summed line items: {exc}"
            ) from None
    rows.last_end = last_end
    return rows


def _stamp(seconds: int) -> str:
    return format_time(datetime.fromtimestamp(seconds, UTC))


class PollRows:
    """The rows of every chunk of one poll that succeeded, turned into one table."""

    def __init__(self, step: int) -> None:
        self._step = step
        self._index: dict[KeyParts, int] = {}
        self._names: list[str] = []
        self._kids: list[np.ndarray] = []
        self._starts: list[int] = []
        self._amounts: list[Decimal] = []
        self._quantities: list[Decimal | None] = []
        self._currencies: list[str] = []
        self.rows = 0

    def add(self, chunk: ChunkRows) -> None:
        """Keep a chunk that succeeded (all of it)."""
        remap = np.empty(len(chunk.keys), dtype=np.int32)
        for i, parts in enumerate(chunk.keys):
            kid = self._index.get(parts)
            if kid is None:
                kid = self._index[parts] = len(self._names)
                credit, cid, cname, line, product = parts
                key: SeriesKey = (
                    ("credit_type", credit),
                    ("customer_id", cid),
                    ("customer_name", cname),
                    ("line_item", line),
                    ("product_id", product),
                )  # make_key's canonical (sorted) order, built directly
                self._names.append(key_json(key))
            remap[i] = kid
        self._kids.append(remap[np.asarray(chunk.kids, dtype=np.int32)])
        self._starts += chunk.starts
        self._amounts += chunk.amounts
        self._quantities += chunk.quantities
        self._currencies += chunk.currencies
        self.rows += len(chunk.kids)

    def table(self) -> pa.Table:
        """The rows as a ``POINT_SCHEMA`` table (keys and currencies dictionary-encoded)."""
        kids = np.concatenate(self._kids) if self._kids else np.empty(0, dtype=np.int32)
        start = pa.array(np.asarray(self._starts, dtype=np.int64))
        currency = pa.array(self._currencies, pa.string()).dictionary_encode()
        return pa.table(
            {
                "key": pa.DictionaryArray.from_arrays(
                    pa.array(kids, pa.int32()), pa.array(self._names, pa.string())
                ),
                "start": start,
                "end": pa.array(np.asarray(self._starts, dtype=np.int64) + self._step),
                "amount": _decimals(self._amounts),
                "quantity": _decimals(self._quantities),
                "currency": currency,
            }
        )


def _decimals(values: list[Decimal] | list[Decimal | None]) -> pa.Array:
    """Exact DECIMAL(38,10); a value with more than 10 places is rounded (half even) to
    10, as the store does. Amounts are below 10^18 here, so they always fit."""
    try:
        return pa.array(values, _DEC)
    except pa.ArrowInvalid:
        return pa.array([None if v is None else v.quantize(_TEN) for v in values], _DEC)
