"""Reading cost rows from CSV files (plain or gzip) and summing them into windows."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from alerter.domain import CostPoint, Coverage, SeriesKey
from alerter.errors import BadResponse
from alerter.sources.base import FetchResult
from alerter.timeparse import floor_time


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of a CSV file with a header; ``.gz`` files are decompressed."""
    raw = path.open("rb")
    stream: gzip.GzipFile | io.BufferedReader = raw
    try:
        if path.suffix == ".gz":
            stream = gzip.GzipFile(fileobj=raw)
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text, strict=True)
        for row in reader:
            if None in row:
                raise BadResponse(f"{path}:{reader.line_num}: more fields than the header has")
            if any(v is None for v in row.values()):
                raise BadResponse(f"{path}:{reader.line_num}: fewer fields than the header has")
            yield reader.line_num, row
    except csv.Error as exc:
        raise BadResponse(f"{path}: CSV error: {exc}") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BadResponse(f"{path}: cannot read: {exc}") from None
    finally:
        stream.close()
        raw.close()


def require_columns(path: Path, header: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in header]
    if missing:
        raise BadResponse(
            f"{path}:1: missing column(s) {', '.join(missing)} (have: {', '.join(header)})"
        )


@dataclass
class WindowSums:
    """Sums spend per (series, window) and tracks the span of windows seen."""

    source: str
    step: timedelta
    since: datetime
    until: datetime
    sums: dict[tuple[SeriesKey, datetime, str], list[Decimal]] = field(default_factory=dict)
    first: datetime | None = None
    last_end: datetime | None = None

    def add(
        self,
        key: SeriesKey,
        start: datetime,
        end: datetime,
        amount: Decimal,
        quantity: Decimal | None,
        currency: str,
    ) -> None:
        """Add a charge for ``[start, end)``, spread evenly over the windows it overlaps.

        Only the windows inside ``[since, until)`` are visited, so a period of millennia
        (0001 to 9999) costs as much as one inside the range; the span seen is kept from
        the period's ends."""
        if end <= start:
            end = start + self.step
        span = (end - start).total_seconds()
        first = floor_time(start, self.step)
        last_end = floor_time(end - timedelta(microseconds=1), self.step) + self.step
        self.first = first if self.first is None else min(self.first, first)
        self.last_end = last_end if self.last_end is None else max(self.last_end, last_end)
        window = max(first, floor_time(self.since, self.step))
        stop = min(end, self.until)
        while window < stop:
            w_end = window + self.step
            overlap = (min(end, w_end) - max(start, window)).total_seconds()
            if overlap > 0 and self.since <= window:
                share = (
                    Decimal(1) if overlap >= span else Decimal(int(overlap)) / Decimal(int(span))
                )
                slot = self.sums.setdefault((key, window, currency), [Decimal(0), Decimal(0)])
                slot[0] += amount * share
                if quantity is not None:
                    slot[1] += quantity * share
            window = w_end

    def points(self) -> list[CostPoint]:
        return [
            CostPoint(self.source, key, start, start + self.step, vals[0], vals[1], currency)
            for (key, start, currency), vals in sorted(
                self.sums.items(), key=lambda kv: (kv[0][1], kv[0][0])
            )
        ]

    def coverage(self) -> list[Coverage]:
        """The span the files cover, clipped to the fetched range."""
        if self.first is None or self.last_end is None:
            return []
        start = max(self.first, floor_time(self.since, self.step))
        end = min(self.last_end, self.until)
        return [Coverage(start, end)] if end > start else []


def read_files(
    source: str,
    pattern: str,
    step: timedelta,
    since: datetime,
    until: datetime,
    read_file: Callable[[Path, WindowSums], None],
) -> FetchResult:
    """Read every file matching ``pattern``; a file with any bad row is rejected whole
    (no points, no coverage) and named in ``errors`` with its line."""
    import glob

    files = sorted(glob.glob(pattern))
    if not files:
        return FetchResult([], [], [f"source {source}: no file matches {pattern}"])
    points: list[CostPoint] = []
    coverage: list[Coverage] = []
    errors: list[str] = []
    for name in files:
        sums = WindowSums(source, step, since, until)
        try:
            read_file(Path(name), sums)
        except BadResponse as exc:
            errors.append(f"source {source}: {exc}")
            continue
        points.extend(sums.points())
        coverage.extend(sums.coverage())
    return FetchResult(_merge(points), coverage, errors)


def _merge(points: list[CostPoint]) -> list[CostPoint]:
    """Sum points of the same series and window found in several files (exports often
    split one period over files); otherwise each file would overwrite the other."""
    merged: dict[tuple[SeriesKey, datetime, str], CostPoint] = {}
    for p in points:
        slot = (p.key, p.start, p.currency)
        old = merged.get(slot)
        if old is None:
            merged[slot] = p
        else:
            quantity = (
                None
                if old.quantity is None and p.quantity is None
                else ((old.quantity or Decimal(0)) + (p.quantity or Decimal(0)))
            )
            merged[slot] = replace(old, amount=old.amount + p.amount, quantity=quantity)
    return list(merged.values())
