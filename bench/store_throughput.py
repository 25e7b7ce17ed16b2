"""Store throughput: upsert and load of a Metronome-scale first poll.

    python bench/store_throughput.py [--series 2000] [--hours 840]

Prints points/s for the first upsert (all new), a re-upsert of the last 48 hours with 1%
revised (a normal cycle), and loading the frame a rule reads (the DuckDB points store
and its mirror), beside a naive baseline (one SELECT + INSERT per point into a SQLite
row table, as the store kept points before) on a sample of the same data.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from alerter.domain import CostPoint, Coverage, make_key
from alerter.sources.base import FetchResult
from alerter.store.sqlite import SqliteStore

T0 = datetime(2026, 9, 7, tzinfo=UTC)
H = timedelta(hours=1)


def points(n_series: int, hours: int, start_hour: int = 0, bump: float = 0.0) -> list[CostPoint]:
    keys = [
        make_key({"customer_id": f"c{i // 5}", "line_item": f"li{i % 5}"}) for i in range(n_series)
    ]
    out = []
    for h in range(start_hour, hours):
        t = T0 + h * H
        for i, key in enumerate(keys):
            amount = Decimal(100 + (i * 7 + h) % 50)
            if bump and (i + h) % int(1 / bump) == 0:
                amount += 1
            out.append(CostPoint("m", key, t, t + H, amount))
    return out


def naive_upsert(store: SqliteStore, pts: list[CostPoint]) -> None:
    import json

    db = store._db
    for p in pts:
        series = json.dumps([list(x) for x in p.key])
        row = db.execute(
            "SELECT amount FROM points WHERE source=? AND series=? AND start=?",
            (p.source, series, int(p.start.timestamp())),
        ).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO points (source, series, start, end, amount, quantity, currency, revision, updated_at) VALUES (?,?,?,?,?,?,?,0,0)",
                (
                    p.source,
                    series,
                    int(p.start.timestamp()),
                    int(p.end.timestamp()),
                    str(p.amount),
                    None,
                    p.currency,
                ),
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--hours", type=int, default=840)
    args = ap.parse_args()
    first = points(args.series, args.hours)
    cov = [Coverage(T0, T0 + args.hours * H)]
    store = SqliteStore(":memory:")
    t = time.perf_counter()
    store.upsert("m", FetchResult(first, cov), T0)
    up = time.perf_counter() - t
    cycle = points(args.series, args.hours, start_hour=args.hours - 48, bump=0.01)
    t = time.perf_counter()
    report = store.upsert("m", FetchResult(cycle, cov), T0)
    again = time.perf_counter() - t
    t = time.perf_counter()
    series = store.load_series("m", T0, T0 + args.hours * H)
    load = time.perf_counter() - t
    store.upsert(
        "m", FetchResult(points(args.series, args.hours, args.hours - 48, bump=0.02), cov), T0
    )
    t = time.perf_counter()
    series = store.load_series("m", T0, T0 + args.hours * H)
    reload = time.perf_counter() - t
    sample = first[: min(len(first), 200_000)]
    naive = SqliteStore(":memory:")
    t = time.perf_counter()
    naive_upsert(naive, sample)
    naive_s = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"points: {len(first):,} ({args.series:,} series x {args.hours} hours)")
    print(f"first upsert:  {len(first) / up:,.0f} points/s ({up:.1f} s)")
    print(
        f"cycle upsert:  {len(cycle) / again:,.0f} points/s ({again:.2f} s, {len(report.revised)} revised)"
    )
    print(f"load series:   {series.starts.size / load:,.0f} points/s ({load:.1f} s, first read)")
    print(f"reload after a cycle: {reload:.2f} s (only rows written since the last read)")
    print(f"naive upsert:  {len(sample) / naive_s:,.0f} points/s on a {len(sample):,}-point sample")
    print(f"ratio first upsert / naive: {(len(first) / up) / (len(sample) / naive_s):.1f}x")
    print(f"peak RSS: {rss:,.0f} MB")


if __name__ == "__main__":
    main()
