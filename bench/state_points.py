"""Where the points live with several replicas: PostgreSQL rows vs the local columnar store.

    python bench/state_points.py [--series 1000] [--hours 336]

The same Metronome-shaped data (series x hourly windows) through both point backends
of the store, in one run: the default state (``SqliteStore``: points in DuckDB beside
the SQLite file) and ``PostgresStore`` (points as rows in a scratch database of the
machine's PostgreSQL, ``ALERTER_TEST_PG``). Prints, per backend, the first upsert (a
backfill), a cycle's upsert (the last 48 hours, 1% revised) and the rule's read of the
whole range (``load_series``, twice: first read, then after a cycle), with the
PostgreSQL / local ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerter.domain import CostPoint, Coverage, make_key  # noqa: E402
from alerter.sources.base import FetchResult  # noqa: E402
from alerter.store.postgres import PostgresStore  # noqa: E402
from alerter.store.sqlite import SqliteStore  # noqa: E402
from tests.postgres import scratch_database  # noqa: E402

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


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(store: Any, args: argparse.Namespace) -> dict[str, float]:
    cov = [Coverage(T0, T0 + args.hours * H)]
    first = points(args.series, args.hours)
    cycle = points(args.series, args.hours, args.hours - 48, bump=0.01)
    later = points(args.series, args.hours, args.hours - 48, bump=0.02)
    span = (T0, T0 + args.hours * H)
    out = {"first upsert": timed(lambda: store.upsert("m", FetchResult(first, cov), T0))}
    out["cycle upsert"] = timed(lambda: store.upsert("m", FetchResult(cycle, cov), T0))
    out["load_series, first read"] = timed(lambda: store.load_series("m", *span))
    store.upsert("m", FetchResult(later, cov), T0)
    out["load_series, after a cycle"] = timed(lambda: store.load_series("m", *span))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--hours", type=int, default=336)
    args = ap.parse_args()
    n = args.series * args.hours
    print(f"points: {n:,} ({args.series:,} series x {args.hours} hours)")
    with tempfile.TemporaryDirectory() as tmp:
        local_store = SqliteStore(str(Path(tmp) / "state.db"))
        local = measure(local_store, args)
        local_store.close()
    with scratch_database("alerter_bench") as url:
        pg_store = PostgresStore(url)
        pg = measure(pg_store, args)
        pg_store.close()
    print(f"{'step':<28} {'local (DuckDB)':>15} {'PostgreSQL':>12} {'PG/local':>9}")
    for step, seconds in local.items():
        print(f"{step:<28} {seconds:>13.2f} s {pg[step]:>10.2f} s {pg[step] / seconds:>8.1f}x")


if __name__ == "__main__":
    main()
