"""``alerter series``: what the store holds for a source, summed per (window, group).

So a user can hold ingestion against the bill: with no ``--group-by`` every series of
the source is added up per window and currency; with ``--group-by ServiceName`` per
service. Amounts are the stored exact decimals, summed exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from alerter.domain import CostPoint, SeriesKey, key_to_str, project_key
from alerter.timeparse import format_time

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """The sum of one group in one window and currency."""

    window_start: datetime
    window_end: datetime
    group: SeriesKey
    amount: Decimal
    currency: str

    def as_json(self) -> str:
        """One JSON line; the amount is a decimal string (exact)."""
        return json.dumps(
            {
                "window_start": format_time(self.window_start),
                "window_end": format_time(self.window_end),
                "group": dict(self.group),
                "amount": f"{self.amount:f}",
                "currency": self.currency,
            },
            ensure_ascii=False,
        )


def sum_series(points: Iterable[CostPoint], group_by: Sequence[str]) -> list[SeriesRow]:
    """Points summed per (window, group, currency), ordered by window then group."""
    sums: dict[tuple[datetime, datetime, SeriesKey, str], Decimal] = {}
    for p in points:
        slot = (p.start, p.end, project_key(p.key, group_by), p.currency)
        sums[slot] = sums.get(slot, Decimal(0)) + p.amount
    return [
        SeriesRow(start, end, group, amount, currency)
        for (start, end, group, currency), amount in sorted(
            sums.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][3])
        )
    ]


def render_table(rows: Sequence[SeriesRow]) -> Iterator[str]:
    """An aligned table for people: window, group, amount (right-aligned), currency."""
    header = ("window_start", "window_end", "group", "amount", "currency")
    cells = [
        (
            format_time(r.window_start),
            format_time(r.window_end),
            key_to_str(r.group) or "(all)",
            f"{r.amount:f}",
            r.currency,
        )
        for r in rows
    ]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if i == 3 else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    yield line(header)
    for c in cells:
        yield line(c)
