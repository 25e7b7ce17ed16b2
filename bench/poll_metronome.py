"""Poll throughput: MetronomeSource at concurrency 32 vs the same source at concurrency 1
and a plain sequential httpx loop, same requests, same run, and where the cycle's time
and CPU go.

10,000 customers x 3 products x 48 hourly windows (two UTC days: one breakdowns request
per customer per day, 24 windows a page, plus the customer pages) against the loopback
fake Metronome (``tests/fakes/metronome.py``), served from a forked child process on one
asyncio loop that delays every answer by ``--latency`` without blocking the others.
Every page is rendered in the child before the clock starts (``--no-warm`` to render
on demand), so the fake's CPU per request is its HTTP work, as a remote API's would be.

    python bench/poll_metronome.py [--customers 10000] [--products 3] [--hours 48]
        [--latency 0.02] [--concurrency 32] [--sequential-requests 2000] [--no-warm]

Two sequential baselines run on the first ``--sequential-requests`` requests (0 = all;
their rate is one request per round trip whatever the count): the same
``MetronomeSource`` with ``concurrency=1`` (the fair one: same client, same parsing)
and a plain ``httpx.Client`` loop (the naive one). The source's cycle is then stored
(``SqliteStore.upsert`` into a fresh state) and the fetch's wall time split into: off
CPU (the client was not running: waiting on the API, or, on a loaded machine, for a
core) and on CPU: HTTP and event loop (client CPU not spent parsing or collecting
garbage), parsing (decode the body, read the page, sum line items into rows, collect
rows into Arrow arrays, build the table) and the cyclic garbage collector. CPU seconds
per request of the client and of the fake are printed so a figure taken on a loaded
machine can be read: on free cores the cycle cannot beat min(concurrency / latency,
1 / client CPU per request, 1 / fake CPU per request, cores / (client + fake CPU per
request)).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import alerter.sources.http as http_module
import alerter.sources.metronome as metronome_module
from alerter.clock import SystemClock
from alerter.sources.base import FetchResult, SourceContext
from alerter.sources.metronome import MetronomeConfig, MetronomeSource
from alerter.sources.metronome_columns import PollRows
from alerter.sources.metronome_wire import split_range
from alerter.store.sqlite import SqliteStore
from alerter.timeparse import format_time
from tests.fakes.metronome import (
    FakeMetronomeProcess,
    MetronomeDataset,
    Product,
    SyntheticUsage,
)

TOKEN = "bench-token"
PRODUCTS = {"GPU compute": Decimal(3000), "API requests": Decimal(500), "Storage": Decimal(120)}


def build(customers: int, products: int = 3) -> MetronomeDataset:
    names = list(PRODUCTS)[:products]
    usage = SyntheticUsage(base={n: PRODUCTS[n] for n in names})
    data = MetronomeDataset(usage)
    for i in range(customers):
        data.add_customer(f"Customer {i:05d}", [Product(n) for n in names])
    return data


def breakdown_targets(ids: list[str], since: datetime, until: datetime) -> list[str]:
    """The breakdowns request targets of one poll, in the source's parameter order."""
    out = []
    for cid in ids:
        for lo, hi in split_range(since, until, timedelta(hours=1)):
            query = {
                "starting_on": format_time(lo),
                "ending_before": format_time(hi),
                "window_size": "HOUR",
                "limit": 100,
                "skip_zero_qty_line_items": "true",
            }
            out.append(f"/v1/customers/{cid}/invoices/breakdowns?{urlencode(query)}")
    return out


def customer_ids(client: httpx.Client) -> tuple[list[str], int]:
    """Every customer id, paging as the source does; (ids, requests)."""
    ids: list[str] = []
    cursor: str | None = None
    requests = 0
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["next_page"] = cursor
        body = client.get("/v1/customers", params=params).json()
        requests += 1
        ids += [c["id"] for c in body["data"]]
        cursor = body["next_page"]
        if not cursor:
            return ids, requests


def sequential(url: str, targets: list[str]) -> tuple[int, int]:
    """The naive baseline: one httpx.Client, one request after another. (requests, rows)"""
    requests = rows = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for target in targets:
            cursor: str | None = None
            while True:
                page = target + (f"&next_page={cursor}" if cursor else "")
                response = client.get(page)
                response.raise_for_status()
                body = response.json()
                requests += 1
                rows += len(body["data"])
                cursor = body["next_page"]
                if not cursor:
                    break
    return requests, rows


class Stopwatch:
    """CPU seconds of this thread spent inside wrapped functions (all synchronous, on the
    event loop's thread): CPU, not wall, so a loaded machine does not inflate them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - t0

        return timed


def instrument(watch: Stopwatch) -> None:
    """Time the parsing steps of the source where it calls them (bench only)."""
    for module, name, label in (
        (http_module, "_parse_json", "json"),
        (metronome_module, "decode_page", "decode"),
        (metronome_module, "typed_page", "read"),
        (metronome_module, "fast_page", "read"),
        (metronome_module, "sum_chunk", "sum"),
        (PollRows, "add", "collect"),
        (PollRows, "table", "table"),
    ):
        setattr(module, name, watch.wrap(label, getattr(module, name)))


class CollectorClock:
    """CPU seconds the cyclic garbage collector ran while ``on`` (all generations)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.on = False
        self._t0 = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._t0 = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._t0


async def concurrent(
    url: str,
    since: datetime,
    until: datetime,
    concurrency: int,
    customers: list[str] | None = None,
) -> tuple[FetchResult, int]:
    """MetronomeSource.fetch (of ``customers`` only, when given). (result, requests)"""
    config = MetronomeConfig(
        type="metronome", base_url=url, concurrency=concurrency, customers=customers
    )
    context = SourceContext(SystemClock(), {"METRONOME_BEARER_TOKEN": TOKEN}, Path("."))
    source = MetronomeSource("bench", config, context)
    try:
        result = await source.fetch(since, until)
    finally:
        await source.aclose()
    return result, source.client.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential-requests", type=int, default=2000, help="0 = all")
    parser.add_argument("--no-warm", action="store_true", help="render pages on demand")
    args = parser.parse_args()

    until = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = until - timedelta(hours=args.hours)
    data = build(args.customers, args.products)
    watch = Stopwatch()
    collector = CollectorClock()
    with FakeMetronomeProcess(data, token=TOKEN, latency=args.latency) as fake:
        with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            ids, _ = customer_ids(c)
        targets = breakdown_targets(ids, since, until)
        chunks = max(1, len(targets) // max(1, len(ids)))  # requests per customer
        sample = targets[: args.sequential_requests] if args.sequential_requests else targets
        ones = ids[: max(1, len(sample) // chunks)]  # the same client's sequential sample
        t0 = time.perf_counter()
        cached = 0 if args.no_warm else fake.warm(targets)
        t_warm = time.perf_counter() - t0
        # warm up the client (imports, models, pool) on a few customers
        asyncio.run(concurrent(fake.url, since, until, args.concurrency, ids[:64]))
        instrument(watch)

        collector.on = True
        f0, c0, t0 = fake.cpu_seconds(), time.process_time(), time.perf_counter()
        result, n_conc = asyncio.run(concurrent(fake.url, since, until, args.concurrency))
        t_conc = time.perf_counter() - t0
        cpu_conc, fake_conc = time.process_time() - c0, fake.cpu_seconds() - f0
        collector.on = False
        parsed = dict(watch.seconds)

        with tempfile.TemporaryDirectory() as folder:
            store = SqliteStore(str(Path(folder) / "state.db"))
            c0, t0 = time.process_time(), time.perf_counter()
            report = store.upsert("bench", result, datetime.now(UTC))
            t_store, cpu_store = time.perf_counter() - t0, time.process_time() - c0
            store.close()

        f0, c0, t0 = fake.cpu_seconds(), time.process_time(), time.perf_counter()
        one, n_one = asyncio.run(concurrent(fake.url, since, until, 1, ones))
        t_one = time.perf_counter() - t0
        cpu_one, fake_one = time.process_time() - c0, fake.cpu_seconds() - f0

        f0, c0, t0 = fake.cpu_seconds(), time.process_time(), time.perf_counter()
        n_seq, rows = sequential(fake.url, sample)
        t_seq = time.perf_counter() - t0
        cpu_seq, fake_seq = time.process_time() - c0, fake.cpu_seconds() - f0
    statuses = sorted(set(fake.statuses()))

    rate_conc, rate_one, rate_seq = n_conc / t_conc, n_one / t_one, n_seq / t_seq
    ms = 1000.0
    print(
        f"customers={args.customers} products={args.products} hours={args.hours} "
        f"latency={args.latency * ms:.0f}ms concurrency={args.concurrency} cpus={os.cpu_count()} "
        f"load={os.getloadavg()[0]:.1f} fake_pages_prerendered={'no' if args.no_warm else 'yes'} "
        f"({cached / 1e6:.0f} MB in {t_warm:.1f}s)"
    )
    print(
        f"MetronomeSource.fetch, concurrency {args.concurrency}: requests={n_conc} "
        f"seconds={t_conc:.2f} req/s={rate_conc:.0f} rows={result.n_points} "
        f"errors={len(result.errors)}"
    )
    print(
        f"same source, concurrency 1: requests={n_one} seconds={t_one:.2f} "
        f"req/s={rate_one:.1f} rows={one.n_points} (the first {len(ones)} customers)"
    )
    print(
        f"sequential httpx loop: requests={n_seq} seconds={t_seq:.2f} req/s={rate_seq:.1f} "
        f"rows={rows}" + (f" (first {n_seq} of the same requests)" if n_seq < n_conc else "")
    )
    print(
        f"ratio={rate_conc / rate_one:.2f}x the same source at concurrency 1, "
        f"{rate_conc / rate_seq:.2f}x the httpx loop (goal 20x)  server statuses={statuses}"
    )
    decode = parsed.get("decode", 0.0) + parsed.get("json", 0.0)
    parse = sum(parsed.values())
    gc_s = collector.seconds
    http = max(0.0, cpu_conc - parse - gc_s)
    wait = max(0.0, t_conc - cpu_conc)
    total = t_conc + t_store
    print(
        f"where the fetch's {t_conc:.2f}s went: client off CPU {wait:.2f}s "
        f"({wait / t_conc:.0%}: waiting on the API, or for a core other work holds); "
        f"on CPU {cpu_conc:.2f}s: HTTP and event loop {http:.2f}s, parsing {parse:.2f}s "
        f"(decode {decode:.2f}, read {parsed.get('read', 0):.2f}, sum "
        f"{parsed.get('sum', 0):.2f}, collect {parsed.get('collect', 0):.2f}, table "
        f"{parsed.get('table', 0):.2f}), garbage collector {gc_s:.2f}s"
    )
    print(
        f"cycle {total:.2f}s: fetch {t_conc:.2f}s ({t_conc / total:.0%}), storing "
        f"{t_store:.2f}s ({t_store / total:.0%}, {report.new} new rows)"
    )
    per = {
        "client": cpu_conc / n_conc,
        "fake": fake_conc / n_conc,
        "client_one": cpu_one / n_one,
        "fake_one": fake_one / n_one,
        "client_seq": cpu_seq / n_seq,
        "fake_seq": fake_seq / n_seq,
    }
    print(
        f"CPU per request: client {per['client'] * ms:.3f} ms (HTTP and event loop "
        f"{http / n_conc * ms:.3f}, parsing {parse / n_conc * ms:.3f}, collector "
        f"{gc_s / n_conc * ms:.3f}), fake {per['fake'] * ms:.3f} ms; at concurrency 1 client "
        f"{per['client_one'] * ms:.3f} ms, fake {per['fake_one'] * ms:.3f} ms; httpx loop "
        f"client {per['client_seq'] * ms:.3f} ms, fake {per['fake_seq'] * ms:.3f} ms; "
        f"storing {cpu_store / max(1, result.n_points) * 1e6:.2f} us per row"
    )
    cores = os.cpu_count() or 1
    bounds = {
        "API (concurrency/latency)": args.concurrency / args.latency if args.latency else 0.0,
        "client CPU": 1 / per["client"],
        "fake CPU": 1 / per["fake"] if per["fake"] else float("inf"),
        f"{cores} cores shared": cores / (per["client"] + per["fake"]),
    }
    bounds = {k: v for k, v in bounds.items() if v}
    limit = min(bounds, key=lambda k: bounds[k])
    print(
        "ceiling on free cores: "
        + ", ".join(f"{k} {v:.0f} req/s" for k, v in bounds.items())
        + f" -> bound by {limit}: {bounds[limit] / rate_one:.1f}x the same source at "
        f"concurrency 1; 20x needs {20 * rate_one:.0f} req/s"
    )
    print(
        f"this run: the client was on a CPU {cpu_conc / t_conc:.0%} of the fetch's wall time "
        f"(a free core would give 100%), the fake {fake_conc / t_conc:.0%}; load average "
        f"{os.getloadavg()[0]:.1f} on {cores} cores"
    )


if __name__ == "__main__":
    main()
