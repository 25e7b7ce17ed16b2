"""Poll throughput: MetronomeSource vs a plain sequential httpx loop, same requests, same run.

2,000 customers x 48 hourly windows (two UTC days: one breakdowns request per customer
per day, plus the customer pages) against the loopback fake Metronome, served from a
child process so client and server do not share a GIL. ``--latency`` delays every
answer like a remote API would (0 = raw loopback).

    python bench/poll_metronome.py [--customers 2000] [--hours 48] [--latency 0.02]
                                   [--concurrency 16]

Prints requests/s for both and the ratio. Both clients fetch and parse the same pages;
the source also validates and normalises them into cost points.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerter.clock import SystemClock
from alerter.sources.base import SourceContext
from alerter.sources.metronome import MetronomeConfig, MetronomeSource
from alerter.sources.metronome_wire import split_range
from alerter.timeparse import format_time
from tests.fakes.metronome import (
    FakeMetronomeProcess,
    MetronomeDataset,
    Product,
    SyntheticUsage,
)

TOKEN = "bench-token"


def build(customers: int) -> MetronomeDataset:
    usage = SyntheticUsage(base={"GPU compute": Decimal(3000), "API requests": Decimal(500)})
    data = MetronomeDataset(usage)
    for i in range(customers):
        data.add_customer(f"Customer {i:04d}", [Product("GPU compute"), Product("API requests")])
    return data


def sequential(url: str, since: datetime, until: datetime) -> tuple[int, int]:
    """The naive baseline: one httpx.Client, one request after another. (requests, rows)"""
    requests = rows = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        ids: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if cursor:
                params["next_page"] = cursor
            body = client.get("/v1/customers", params=params).json()
            requests += 1
            ids += [c["id"] for c in body["data"]]
            cursor = body["next_page"]
            if not cursor:
                break
        for cid in ids:
            for lo, hi in split_range(since, until, timedelta(hours=1)):
                cursor = None
                while True:
                    params = {
                        "starting_on": format_time(lo),
                        "ending_before": format_time(hi),
                        "window_size": "HOUR",
                        "limit": 100,
                        "skip_zero_qty_line_items": "true",
                    }
                    if cursor:
                        params["next_page"] = cursor
                    response = client.get(f"/v1/customers/{cid}/invoices/breakdowns", params=params)
                    response.raise_for_status()
                    body = response.json()
                    requests += 1
                    rows += len(body["data"])
                    cursor = body["next_page"]
                    if not cursor:
                        break
    return requests, rows


async def concurrent(
    url: str, since: datetime, until: datetime, concurrency: int
) -> tuple[int, int, int]:
    """MetronomeSource.fetch. (requests, points, errors)"""
    config = MetronomeConfig(type="metronome", base_url=url, concurrency=concurrency)
    context = SourceContext(SystemClock(), {"METRONOME_BEARER_TOKEN": TOKEN}, Path("."))
    source = MetronomeSource("bench", config, context)
    try:
        result = await source.fetch(since, until)
    finally:
        await source.aclose()
    return source.client.requests, len(result.points), len(result.errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    until = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = until - timedelta(hours=args.hours)
    data = build(args.customers)
    with FakeMetronomeProcess(data, token=TOKEN, latency=args.latency) as fake:
        # warm up both paths (imports, model building, TLS context) on one day
        warm = until - timedelta(hours=1)
        asyncio.run(concurrent(fake.url, warm, until, args.concurrency))
        sequential(fake.url, warm, until)
        t0 = time.perf_counter()
        n_conc, points, errors = asyncio.run(concurrent(fake.url, since, until, args.concurrency))
        t_conc = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_seq, rows = sequential(fake.url, since, until)
        t_seq = time.perf_counter() - t0
    statuses = set(fake.statuses())
    assert n_conc == n_seq, "both clients must send the same requests"

    rate_conc, rate_seq = n_conc / t_conc, n_seq / t_seq
    print(
        f"customers={args.customers} hours={args.hours} latency={args.latency * 1000:.0f}ms "
        f"concurrency={args.concurrency} cpus={__import__('os').cpu_count()}"
    )
    print(
        f"MetronomeSource.fetch  requests={n_conc} seconds={t_conc:.2f} "
        f"req/s={rate_conc:.0f} points={points} errors={errors}"
    )
    print(
        f"sequential httpx loop  requests={n_seq} seconds={t_seq:.2f} req/s={rate_seq:.0f} rows={rows}"
    )
    print(f"ratio={rate_conc / rate_seq:.2f}x  server statuses={sorted(statuses)}")


if __name__ == "__main__":
    main()
