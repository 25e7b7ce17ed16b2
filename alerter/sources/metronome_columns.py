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

import pyarrow as pa
import pyarrow.compute as pc

from alerter.domain import SeriesKey, cap_value, key_json
from alerter.errors import BadResponse
from alerter.money import MAX_QUANTITY, check_amount
from alerter.sources.metronome_wire import Invoice, is_cents
from alerter.timeparse import format_time

_DEC = pa.decimal128(38, 10)
_DEC0 = pa.decimal128(38, 0)
_TEN = Decimal("1e-10")
_FLUSH_ROWS = 1 << 16
"""Rows kept as Python objects before they become Arrow arrays."""
_UNITS = 10**10
"""``int`` amounts and quantities here count units of 10^-10 (DECIMAL(38,10)'s step)."""
_CENT_UNITS = _UNITS // 100
Exact = int | Decimal
"""An exact number: an ``int`` counts ``_UNITS`` (JSON integers take this cheap way,
from the page to the Arrow array), a ``Decimal`` is the value itself."""
KeyParts = tuple[str, str, str, str, str]
"""(credit type name, customer id, customer name, line item name, product id), capped."""


@dataclass(slots=True)
class ChunkRows:
    """The spend rows of one (customer, chunk), keys local to the chunk."""

    keys: list[KeyParts] = field(default_factory=list)
    kids: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    amounts: list[Exact] = field(default_factory=list)
    quantities: list[Exact | None] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    last_end: int | None = None
    """End (Unix seconds) of the last window the API returned, None if none."""
    decimals: bool = False
    """Whether any amount or quantity is a ``Decimal`` (else all are ``int`` units)."""


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
    # (credit type name, credit type id, line item name, product id) -> the row group
    # (series and currency) its lines go to and whether its amounts are cents: worked
    # out once per line item identity, not once per line
    idents: dict[tuple[str, str, str, str], tuple[int, bool]] = {}
    local: dict[KeyParts, int] = {}
    groups: dict[tuple[int, str], int] = {}
    slots: dict[tuple[int, int], int] = {}
    summed: list[int] = []
    skipped = rows.skipped
    keys, kids, starts = rows.keys, rows.kids, rows.starts
    amounts, quantities, currencies = rows.amounts, rows.quantities, rows.currencies
    group_kid: list[int] = []
    group_currency: list[str] = []
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
            if kind not in types:  # types are lower case: "usage" needs no lower()
                low = kind.lower()
                if low not in types:
                    skipped[low] = skipped.get(low, 0) + 1
                    continue
            ident = (credit_name, credit_id, name, product)
            found = idents.get(ident)
            if found is None:
                cents = is_cents(credit_name, credit_id)
                currency = "USD" if cents else cap_value(credit_name)
                parts = (cap_value(credit_name), cid, cname, cap_value(name), cap_value(product))
                kid = local.setdefault(parts, len(keys))
                if kid == len(keys):
                    keys.append(parts)
                group = groups.setdefault((kid, currency), len(groups))
                if group == len(group_kid):
                    group_kid.append(kid)
                    group_currency.append(currency)
                found = idents[ident] = (group, cents)
            group, cents = found
            amount: Exact
            if isinstance(total, int):
                amount = total * (_CENT_UNITS if cents else _UNITS)
            else:
                amount = total / 100 if cents else total
                rows.decimals = True
            if isinstance(qty, int):
                qty = qty * _UNITS
            elif qty is not None:
                rows.decimals = True
            slot = slots.get((group, lo))
            if slot is None:
                slots[(group, lo)] = len(kids)
                kids.append(group_kid[group])
                starts.append(lo)
                amounts.append(amount)
                quantities.append(qty)
                currencies.append(group_currency[group])
                continue
            summed.append(slot)
            amounts[slot] = _add(amounts[slot], amount)
            if qty is not None:
                old = quantities[slot]
                quantities[slot] = qty if old is None else _add(old, qty)
    # a single line's amount and quantity were bounded when the page was read; a sum
    # of several may not be
    for i in summed:
        qty = quantities[i]
        try:
            check_amount(_value(amounts[i]))
            if qty is not None:
                check_amount(_value(qty), MAX_QUANTITY)
        except ValueError as exc:
            raise BadResponse(f"window {_stamp(starts[i])}: summed line items: {exc}") from None
    rows.last_end = last_end
    return rows


def _value(number: Exact) -> Decimal:
    """The exact value of an ``Exact`` (``int`` units made a ``Decimal``, exactly)."""
    return number if type(number) is Decimal else Decimal(f"{number}E-10")


def _add(a: Exact, b: Exact) -> Exact:
    """``a + b``: exact for two ``int`` counts; otherwise as ``Decimal`` arithmetic."""
    if type(a) is int and type(b) is int:
        return a + b
    return _value(a) + _value(b)


def _stamp(seconds: int) -> str:
    return format_time(datetime.fromtimestamp(seconds, UTC))


class PollRows:
    """The rows of every chunk of one poll that succeeded, turned into one table.

    Chunks arrive in the order their requests finish; each carries its job number and
    the table is put back in job order, so it does not depend on network timing. Rows
    wait in plain lists only until ``_FLUSH_ROWS`` of them are pending, then become
    Arrow arrays: a poll of millions of rows keeps no list of millions of Python objects
    alive for the cyclic garbage collector to walk again and again."""

    def __init__(self, step: int) -> None:
        self._step = step
        self._index: dict[KeyParts, int] = {}
        self._names: list[str] = []
        self._kids: list[int] = []
        self._starts: list[int] = []
        self._amounts: list[Exact] = []
        self._quantities: list[Exact | None] = []
        self._decimals = False
        self._currencies: list[str] = []
        self._order: list[int] = []
        self._batches: list[tuple[pa.Array, ...]] = []
        self._in_order = True
        self._last = -1
        self.rows = 0

    def add(self, chunk: ChunkRows, order: int = 0) -> None:
        """Keep a chunk that succeeded (all of it); ``order`` is its place in the table
        (chunks with equal ``order`` keep the order they were added in)."""
        index = self._index
        remap: list[int] = []
        for parts in chunk.keys:
            kid = index.get(parts)
            if kid is None:
                kid = index[parts] = len(self._names)
                credit, cid, cname, line, product = parts
                key: SeriesKey = (
                    ("credit_type", credit),
                    ("customer_id", cid),
                    ("customer_name", cname),
                    ("line_item", line),
                    ("product_id", product),
                )  # make_key's canonical (sorted) order, built directly
                self._names.append(key_json(key))
            remap.append(kid)
        n = len(chunk.kids)
        self._kids += [remap[k] for k in chunk.kids]
        self._starts += chunk.starts
        self._amounts += chunk.amounts
        self._quantities += chunk.quantities
        self._currencies += chunk.currencies
        self._decimals = self._decimals or chunk.decimals
        self._order += [order] * n
        if order < self._last:
            self._in_order = False
        self._last = order
        self.rows += n
        if len(self._starts) >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._starts:
            return
        self._batches.append(
            (
                pa.array(self._kids, pa.int32()),
                pa.array(self._starts, pa.int64()),
                _decimals(self._amounts, self._decimals),
                _decimals(self._quantities, self._decimals),
                pa.array(self._currencies, pa.string()),
                pa.array(self._order, pa.int64()),
            )
        )
        self._kids, self._starts, self._amounts = [], [], []
        self._quantities, self._currencies, self._order = [], [], []
        self._decimals = False

    def table(self) -> pa.Table:
        """The rows as a ``POINT_SCHEMA`` table (keys and currencies dictionary-encoded),
        in ``order``."""
        self._flush()
        kids, start, amount, quantity, currency, order = (
            pa.chunked_array([b[i] for b in self._batches], t)
            for i, t in enumerate((pa.int32(), pa.int64(), _DEC, _DEC, pa.string(), pa.int64()))
        )
        table = pa.table(
            {
                "kid": kids,
                "start": start,
                "end": pc.add(start, self._step),
                "amount": amount,
                "quantity": quantity,
                "currency": currency,
            }
        ).combine_chunks()
        if not self._in_order:
            table = table.take(pc.sort_indices(order))  # a stable sort
        keys = pa.DictionaryArray.from_arrays(
            table.column("kid").combine_chunks(), pa.array(self._names, pa.string())
        )
        return (
            table.drop_columns("kid")
            .add_column(0, "key", keys)
            .set_column(
                5, "currency", table.column("currency").combine_chunks().dictionary_encode()
            )
        )


def _decimals(values: list[Exact] | list[Exact | None], decimals: bool) -> pa.Array:
    """Exact DECIMAL(38,10); a value with more than 10 places is rounded (half even) to
    10, as the store does. Amounts are below 10^18 here, so they always fit. Without
    ``decimals`` every value is an ``int`` count of units (or None): they become the
    array's 128-bit integers directly while they fit 64 bits."""
    if not decimals:
        try:
            ints = pa.array(values, pa.int64()).cast(_DEC0)
        except OverflowError:
            pass
        else:  # the same integers, read with 10 places
            return pa.Array.from_buffers(
                _DEC, len(ints), ints.buffers(), null_count=ints.null_count, offset=ints.offset
            )
    exact = [None if v is None else _value(v) for v in values]
    try:
        return pa.array(exact, _DEC)
    except pa.ArrowInvalid:
        return pa.array([None if v is None else v.quantize(_TEN) for v in exact], _DEC)
