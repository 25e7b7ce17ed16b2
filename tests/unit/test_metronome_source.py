"""MetronomeSource against the loopback fake: paging, normalisation, coverage, faults."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError

from alerter.clock import FakeClock
from alerter.domain import CostPoint, Coverage, key_get, make_key
from alerter.errors import ConfigError, Unavailable
from alerter.sources.base import FetchResult, SourceContext
from alerter.sources.metronome import MetronomeConfig, MetronomeSource
from alerter.sources.metronome_columns import ChunkRows, PollRows, sum_chunk
from alerter.sources.metronome_wire import split_range, to_money
from tests.fakes.metronome import (
    USD_CENTS,
    CreditType,
    FakeMetronome,
    Fault,
    MetronomeDataset,
    Product,
    hours,
)

TOKEN = "mtr-secret-token-value-123"
NOW = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)
DAY0 = datetime(2025, 3, 10, tzinfo=UTC)
GPU = Product("GPU compute", credit_type=USD_CENTS)
API = Product("API requests", credit_type=USD_CENTS)
AI_CREDITS = CreditType("0f0e0d0c-0b0a-4909-8807-060504030201", "AI credits")
TOKENS = Product("Model tokens", credit_type=AI_CREDITS)


def make_dataset(n_customers: int = 3) -> MetronomeDataset:
    data = MetronomeDataset()
    for i in range(n_customers):
        c = data.add_customer(f"Customer {i}", products=[GPU, API])
        for hour in hours(DAY0, 48):
            data.set_usage(c.id, GPU.name, hour, Decimal(1000 + i))
            data.set_usage(c.id, API.name, hour, Decimal(250))
    return data


def make_source(
    fake: FakeMetronome, clock: FakeClock, token: str = TOKEN, **config: Any
) -> MetronomeSource:
    cfg = MetronomeConfig(type="metronome", base_url=fake.url, **config)
    ctx = SourceContext(clock=clock, env={"METRONOME_BEARER_TOKEN": token}, config_dir=Path("."))
    return MetronomeSource("mtr", cfg, ctx)


def run_fetch(source: MetronomeSource, since: datetime, until: datetime) -> FetchResult:
    """The fetch, its columnar rows turned into ``points`` for the assertions."""

    async def go() -> FetchResult:
        try:
            return await source.fetch(since, until)
        finally:
            await source.aclose()

    result = asyncio.run(go())
    assert result.points == [], "the source hands its points over as columns"
    return dataclasses.replace(result, points=result.all_points(source.name), table=None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def data() -> MetronomeDataset:
    return make_dataset()


@pytest.fixture
def fake(data: MetronomeDataset, clock: FakeClock) -> Iterator[FakeMetronome]:
    with FakeMetronome(data, token=TOKEN, now=clock.now) as server:
        yield server


def by_customer(points: list[CostPoint], customer_id: str) -> list[CostPoint]:
    return [p for p in points if key_get(p.key, "customer_id") == customer_id]


# -- config ------------------------------------------------------------------------


def test_config_rejects_unknown_key_and_bad_limit() -> None:
    with pytest.raises(ValidationError):
        MetronomeConfig(type="metronome", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        MetronomeConfig(type="metronome", page_limit=101)
    with pytest.raises(ValidationError):
        MetronomeConfig(type="metronome", window="week")
    cfg = MetronomeConfig(type="metronome", timeout="30s", lookback="48h")
    assert cfg.timeout == timedelta(seconds=30)
    assert cfg.base_url == "https://api.metronome.com"


def test_missing_token_env_is_a_config_error_naming_the_variable(clock: FakeClock) -> None:
    cfg = MetronomeConfig(type="metronome", token_env="MY_METRONOME_TOKEN")
    ctx = SourceContext(clock=clock, env={}, config_dir=Path("."))
    with pytest.raises(ConfigError, match="MY_METRONOME_TOKEN"):
        MetronomeSource("mtr", cfg, ctx)


def test_step_follows_window(fake: FakeMetronome, clock: FakeClock) -> None:
    assert make_source(fake, clock).step == timedelta(hours=1)
    assert make_source(fake, clock, window="day").step == timedelta(days=1)


# -- pure helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "step", "expected"),
    [
        ("2025-03-10T00", "2025-03-12T00", "h", ["2025-03-10T00", "2025-03-11T00"]),
        ("2025-03-10T05", "2025-03-11T03", "h", ["2025-03-10T05", "2025-03-11T00"]),
        ("2025-01-01T00", "2025-02-10T00", "d", ["2025-01-01T00", "2025-02-05T00"]),
        ("2025-01-01T00", "2025-01-01T00", "h", []),
    ],
)
def test_split_range(start: str, end: str, step: str, expected: list[str]) -> None:
    lo = datetime.fromisoformat(start).replace(tzinfo=UTC)
    hi = datetime.fromisoformat(end).replace(tzinfo=UTC)
    size = timedelta(hours=1) if step == "h" else timedelta(days=1)
    chunks = list(split_range(lo, hi, size))
    assert [c[0].strftime("%Y-%m-%dT%H") for c in chunks] == expected
    if chunks:
        assert chunks[0][0] == lo
        assert chunks[-1][1] == hi
        assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))


@pytest.mark.parametrize(
    ("amount", "name", "cid", "expected"),
    [
        ("12345", "USD (cents)", "2714e483-4ff1-48e4-9e25-ac732e8f24f2", ("123.45", "USD")),
        ("1025.2", "USD (cents)", "other-id", ("10.252", "USD")),
        ("7.5", "AI credits", "0f0e", ("7.5", "AI credits")),
    ],
)
def test_to_money(amount: str, name: str, cid: str, expected: tuple[str, str]) -> None:
    value, currency = to_money(Decimal(amount), name, cid)
    assert (value, currency) == (Decimal(expected[0]), expected[1])


# -- fetching ------------------------------------------------------------------------


def test_hourly_fetch_normalises_every_customer_line_item_and_window(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    result = run_fetch(make_source(fake, clock), DAY0, DAY0 + timedelta(hours=48))
    assert result.errors == []
    assert len(result.points) == 3 * 2 * 48
    first = next(iter(data.customers.values()))
    gpu = sorted(
        (
            p
            for p in by_customer(result.points, first.id)
            if key_get(p.key, "line_item") == GPU.name
        ),
        key=lambda p: p.start,
    )
    assert [p.start for p in gpu] == list(hours(DAY0, 48))
    assert all(p.end - p.start == timedelta(hours=1) for p in gpu)
    assert {p.amount for p in gpu} == {Decimal("10.00")}
    assert {p.currency for p in gpu} == {"USD"}
    assert dict(gpu[0].key) == {
        "credit_type": "USD (cents)",
        "customer_id": first.id,
        "customer_name": "Customer 0",
        "line_item": "GPU compute",
        "product_id": GPU.id,
    }
    assert gpu[0].key == make_key(dict(gpu[0].key))
    assert gpu[0].source == "mtr"
    assert sorted(result.coverage, key=lambda c: c.scope) == sorted(
        (
            Coverage(DAY0, DAY0 + timedelta(hours=48), scope=(("customer_id", c),))
            for c in data.customers
        ),
        key=lambda c: c.scope,
    )
    # one request per (customer, day), sent as the SDKs spell it, never a 400
    reqs = fake.breakdown_requests()
    assert len(reqs) == 3 * 2
    assert {r.query["window_size"][0] for r in reqs} == {"HOUR"}
    assert set(fake.statuses()) == {200}


def test_long_range_follows_cursors_page_by_page(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    first = next(iter(data.customers))
    source = make_source(fake, clock, page_limit=5, customers=[first])
    result = run_fetch(source, DAY0, DAY0 + timedelta(hours=48))
    assert result.errors == []
    assert len(result.points) == 2 * 48
    reqs = fake.breakdown_requests(first)
    assert len(reqs) == 2 * 5  # 24 windows per day, 5 per page
    assert sum("next_page" in r.query for r in reqs) == 2 * 4
    assert max(r.page for r in reqs) == 5


def test_unaligned_range_and_daily_windows_never_trigger_a_400(
    fake: FakeMetronome, clock: FakeClock
) -> None:
    since = DAY0 + timedelta(minutes=17)
    run_fetch(make_source(fake, clock), since, NOW + timedelta(minutes=5))
    result = run_fetch(make_source(fake, clock, window="day"), DAY0 - timedelta(days=40), NOW)
    assert result.errors == []
    daily = [p for p in result.points if p.start == DAY0]
    assert daily
    assert all(p.end - p.start == timedelta(days=1) for p in result.points)
    assert set(fake.statuses()) == {200}
    assert {r.query["window_size"][0] for r in fake.breakdown_requests()} == {"HOUR", "DAY"}


def test_daily_amount_is_the_sum_of_its_hours(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    first = next(iter(data.customers))
    result = run_fetch(
        make_source(fake, clock, window="day", customers=[first]), DAY0, DAY0 + timedelta(days=1)
    )
    gpu = [p for p in result.points if key_get(p.key, "line_item") == GPU.name]
    assert [(p.start, p.amount) for p in gpu] == [(DAY0, Decimal(24 * 1000) / 100)]
    assert gpu[0].quantity == Decimal(24 * 1000)


def test_spend_is_gross_commit_lines_skipped_credit_types_kept_apart(clock: FakeClock) -> None:
    data = MetronomeDataset()
    c = data.add_customer("Committed", products=[GPU, TOKENS], commit_per_window=Decimal(300))
    for hour in hours(DAY0, 2):
        data.set_usage(c.id, GPU.name, hour, Decimal(1250))
        data.set_usage(c.id, TOKENS.name, hour, Decimal("7.5"))
    with FakeMetronome(data, token=TOKEN, now=clock.now) as fake:
        result = run_fetch(make_source(fake, clock), DAY0, DAY0 + timedelta(hours=2))
    assert result.errors == []
    got = sorted((key_get(p.key, "line_item"), p.currency, p.amount) for p in result.points)
    assert got == [
        ("GPU compute", "USD", Decimal("12.50")),
        ("GPU compute", "USD", Decimal("12.50")),
        ("Model tokens", "AI credits", Decimal("7.5")),
        ("Model tokens", "AI credits", Decimal("7.5")),
    ]
    assert all(key_get(p.key, "line_item") != "Prepaid commit" for p in result.points)


def test_plans_sub_line_items_are_not_counted_twice(clock: FakeClock) -> None:
    data = MetronomeDataset()
    c = data.add_customer(
        "Legacy", products=[Product("Transfer", unit_price=Decimal("0.5"))], plans=True
    )
    data.set_usage(c.id, "Transfer", DAY0, Decimal(420))
    with FakeMetronome(data, token=TOKEN, now=clock.now) as fake:
        result = run_fetch(make_source(fake, clock), DAY0, DAY0 + timedelta(hours=1))
    assert [(p.amount, p.quantity, key_get(p.key, "product_id")) for p in result.points] == [
        (Decimal("4.20"), Decimal(840), "")
    ]


def test_zero_usage_window_is_covered_without_points(clock: FakeClock) -> None:
    data = MetronomeDataset()
    c = data.add_customer("Idle", products=[GPU])
    with FakeMetronome(data, token=TOKEN, now=clock.now) as fake:
        result = run_fetch(make_source(fake, clock), DAY0, DAY0 + timedelta(hours=3))
    assert result.points == []
    assert result.coverage == [Coverage(DAY0, DAY0 + timedelta(hours=3), (("customer_id", c.id),))]


def test_open_window_is_covered_only_when_returned(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    first = next(iter(data.customers))
    data.set_usage(first, GPU.name, NOW - timedelta(hours=1), Decimal(100))
    data.set_usage(first, GPU.name, NOW, Decimal(100))
    until = NOW + timedelta(minutes=30)
    # the fake hides windows starting at or after `now`: the 06:00 hour is not returned
    result = run_fetch(make_source(fake, clock, customers=[first]), NOW - timedelta(hours=3), until)
    assert result.coverage == [Coverage(NOW - timedelta(hours=3), NOW, (("customer_id", first),))]
    assert max(p.end for p in result.points) == NOW
    # once the API returns the open window (partial usage), it is covered and has points
    clock.advance(timedelta(minutes=10))
    fake.now = lambda: NOW + timedelta(hours=1)
    result = run_fetch(make_source(fake, clock, customers=[first]), NOW - timedelta(hours=3), until)
    assert result.coverage == [
        Coverage(NOW - timedelta(hours=3), NOW + timedelta(hours=1), (("customer_id", first),))
    ]
    assert max(p.end for p in result.points) == NOW + timedelta(hours=1)


def test_backdated_usage_is_a_revision_on_the_next_fetch(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    first = next(iter(data.customers))
    window = DAY0 + timedelta(hours=5)

    def gpu_at(result: FetchResult) -> Decimal:
        (point,) = [
            p
            for p in by_customer(result.points, first)
            if p.start == window and key_get(p.key, "line_item") == GPU.name
        ]
        return point.amount

    before = run_fetch(make_source(fake, clock), DAY0, DAY0 + timedelta(hours=24))
    data.set_usage(first, GPU.name, window, Decimal(90000))
    after = run_fetch(make_source(fake, clock), DAY0, DAY0 + timedelta(hours=24))
    assert (gpu_at(before), gpu_at(after)) == (Decimal("10.00"), Decimal("900.00"))


def test_customer_filter_explicit_list_and_refresh(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    result = run_fetch(
        make_source(fake, clock, customer_filter="*2"), DAY0, DAY0 + timedelta(hours=1)
    )
    assert {key_get(p.key, "customer_name") for p in result.points} == {"Customer 2"}
    ids = list(data.customers)
    result = run_fetch(make_source(fake, clock, customers=ids[:2]), DAY0, DAY0 + timedelta(hours=1))
    assert {key_get(p.key, "customer_id") for p in result.points} == set(ids[:2])
    assert {key_get(p.key, "customer_name") for p in result.points} == {"Customer 0", "Customer 1"}

    source = make_source(fake, clock, customer_refresh="1h")

    def listings() -> int:
        return sum(r.endpoint == "customers" for r in fake.requests)

    async def three_polls() -> list[int]:
        counts = []
        try:
            for advance in (0, 600, 3600):
                clock.advance(advance)
                await source.fetch(DAY0, DAY0 + timedelta(hours=1))
                counts.append(listings())
        finally:
            await source.aclose()
        return counts

    base = listings()
    assert [n - base for n in asyncio.run(three_polls())] == [1, 1, 2]


def test_customers_are_listed_page_by_page(clock: FakeClock) -> None:
    data = MetronomeDataset()
    for i in range(7):
        data.add_customer(f"C{i}", products=[GPU])
    data.add_customer("Gone", products=[GPU], archived=True)
    with FakeMetronome(data, token=TOKEN, now=clock.now) as fake:
        source = make_source(fake, clock, page_limit=3)

        async def go() -> list[str]:
            try:
                return [c.name for c in await source.customers()]
            finally:
                await source.aclose()

        names = asyncio.run(go())
        assert sum(r.endpoint == "customers" for r in fake.requests) == 3
    assert names == [f"C{i}" for i in range(7)]


# -- faults --------------------------------------------------------------------------


def test_bad_token_raises_once_naming_the_env_var_without_the_secret(
    fake: FakeMetronome, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "mtr-wrong-token-zzz"
    with pytest.raises(Unavailable, match="METRONOME_BEARER_TOKEN") as info:
        run_fetch(make_source(fake, clock, token=wrong), DAY0, DAY0 + timedelta(hours=1))
    assert wrong not in str(info.value)
    assert "401" in str(info.value)
    assert all(wrong not in r.getMessage() for r in caplog.records)
    assert fake.statuses() == [401]


def test_token_revoked_mid_poll_stops_asking_and_raises(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    fake.faults.append(Fault("403", endpoint="breakdowns", times=None))
    with pytest.raises(Unavailable, match="403"):
        run_fetch(make_source(fake, clock, concurrency=1), DAY0, DAY0 + timedelta(hours=48))
    assert fake.statuses().count(403) == 1


def test_429_honours_retry_after_seconds_and_http_date(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    first = next(iter(data.customers))
    when = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    fake.faults.append(Fault("429", customer_id=first, retry_after="7"))
    fake.faults.append(Fault("429", customer_id=first, retry_after=when))
    result = run_fetch(
        make_source(fake, clock, customers=[first], concurrency=1), DAY0, DAY0 + timedelta(hours=24)
    )
    assert result.errors == []
    assert len(result.points) == 2 * 24
    assert clock.slept[0] == 7.0
    assert 30 <= clock.slept[1] <= 42  # the date is 42 s after NOW; the clock moved 7 s
    assert fake.statuses().count(429) == 2


def test_5xx_and_dropped_connections_are_retried_with_backoff(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    first = next(iter(data.customers))
    fake.faults.append(Fault("503", customer_id=first, times=2))
    fake.faults.append(Fault("drop", customer_id=first))
    result = run_fetch(
        make_source(fake, clock, customers=[first], concurrency=1), DAY0, DAY0 + timedelta(hours=24)
    )
    assert result.errors == []
    assert len(result.points) == 48
    assert len(clock.slept) == 3
    assert 0.375 <= clock.slept[0] <= 0.5
    assert 0.75 <= clock.slept[1] <= 1.0


def test_persistent_5xx_fails_only_that_customer(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    bad, *good = list(data.customers)
    fake.faults.append(Fault("500", customer_id=bad, times=None))
    result = run_fetch(make_source(fake, clock, max_attempts=3), DAY0, DAY0 + timedelta(hours=48))
    assert by_customer(result.points, bad) == []
    assert all(len(by_customer(result.points, g)) == 96 for g in good)
    assert {c.scope for c in result.coverage} == {(("customer_id", g),) for g in good}
    assert len(result.errors) == 2  # both days of the bad customer
    assert all(bad in e and "Customer 0" in e and "HTTP 500" in e for e in result.errors)
    assert any("2025-03-10T00:00:00Z..2025-03-11T00:00:00Z" in e for e in result.errors)
    assert all(TOKEN not in e for e in result.errors)


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_bad_page_rejects_that_customer_window_whole(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock, kind: str
) -> None:
    bad = next(iter(data.customers))
    fake.faults.append(Fault(kind, customer_id=bad, page=2, starting_on=DAY0 + timedelta(days=1)))
    result = run_fetch(make_source(fake, clock, page_limit=10), DAY0, DAY0 + timedelta(hours=48))
    bad_points = by_customer(result.points, bad)
    # day 1 of the bad customer fully present, day 2 absent (page 1 of it was fine)
    assert {p.start.date() for p in bad_points} == {DAY0.date()}
    assert len(bad_points) == 48
    assert Coverage(DAY0, DAY0 + timedelta(days=1), (("customer_id", bad),)) in result.coverage
    assert not any(
        c.scope == (("customer_id", bad),) and c.end > DAY0 + timedelta(days=1)
        for c in result.coverage
    )
    (error,) = result.errors
    assert bad in error
    assert "2025-03-11T00:00:00Z..2025-03-12T00:00:00Z" in error
    assert ("page 2" in error) if kind == "malformed" else ("not valid JSON" in error)
    assert len(result.points) == 3 * 2 * 48 - 48


def test_customer_listing_failure_raises_without_cache(
    fake: FakeMetronome, clock: FakeClock
) -> None:
    fake.faults.append(Fault("500", endpoint="customers", times=None))
    with pytest.raises(Unavailable, match="/v1/customers"):
        run_fetch(make_source(fake, clock, max_attempts=2), DAY0, DAY0 + timedelta(hours=1))


def test_repr_and_errors_never_show_the_token(fake: FakeMetronome, clock: FakeClock) -> None:
    source = make_source(fake, clock)
    assert TOKEN not in repr(source)
    assert TOKEN not in repr(source.client)
    assert TOKEN not in repr(source.config)


def _one_window_page(
    customer_id: str,
    stamp: str,
    total: str,
    quantity: str,
    second: tuple[str, str] | None = None,
) -> str:
    """A breakdowns page of one hourly window (DAY0) with two line items of one product,
    numbers and stamps written as given (raw JSON text); ``second`` gives the second
    line its own (total, quantity)."""
    usd = {"id": USD_CENTS.id, "name": USD_CENTS.name}
    line = {
        "credit_type": usd,
        "name": GPU.name,
        "type": "usage",
        "product_id": GPU.id,
        "total": "TOTAL",
        "quantity": "QTY",
        "custom_fields": {"nested": {"ignored": [1, 2.5, None]}},
    }
    page = {
        "data": [
            {
                "id": "inv-1",
                "customer_id": customer_id,
                "type": "USAGE",
                "status": "DRAFT",
                "credit_type": usd,
                "breakdown_start_timestamp": "2025-03-10T00:00:00" + stamp,
                "breakdown_end_timestamp": "2025-03-10T01:00:00" + stamp,
                "line_items": [line, {**line, "total": "TOTAL2", "quantity": "QTY2"}],
                "total": 0,
            }
        ],
        "next_page": None,
    }
    total2, quantity2 = second or (total, quantity)
    text = json.dumps(page)
    for mark, value in (
        ("TOTAL", total),
        ("QTY", quantity),
        ("TOTAL2", total2),
        ("QTY2", quantity2),
    ):
        text = text.replace(f'"{mark}"', value)
    return text


@pytest.mark.parametrize(
    ("stamp", "total", "quantity"),
    [
        ("Z", "1234.5", "3"),  # the documented shape: decoded straight into structs
        ("+00:00", "1234.5", "3"),
        ("Z", '"1234.5"', '"3"'),  # numeric strings: accepted, as the models accept them
        (".000Z", "1234.5", "3"),  # a stamp the fast readers leave to the models
        ("Z", "1234.50000000000000000001", "3.0"),  # more places than DECIMAL(38,10)
    ],
)
def test_every_page_reader_gives_the_same_exact_rows(
    fake: FakeMetronome,
    data: MetronomeDataset,
    clock: FakeClock,
    stamp: str,
    total: str,
    quantity: str,
) -> None:
    first = next(iter(data.customers))
    page = _one_window_page(first, stamp, total, quantity)
    fake.faults.append(Fault("body", customer_id=first, value=page))
    result = run_fetch(make_source(fake, clock, customers=[first]), DAY0, DAY0 + timedelta(hours=1))
    assert result.errors == []
    [point] = result.points
    assert (point.start, point.end) == (DAY0, DAY0 + timedelta(hours=1))
    assert point.amount == Decimal("24.69")  # 2 x 1234.5 cents, in dollars, exact
    assert point.quantity == Decimal(6)
    assert point.currency == "USD"
    assert key_get(point.key, "line_item") == GPU.name


@pytest.mark.parametrize(
    ("first", "second", "amount", "quantity"),
    [
        (("1234", "3"), ("1234", "3"), "24.68", "6"),  # integers: summed as integer units
        (("1234", "3"), ("0.5", "1.5"), "12.345", "4.5"),  # an integer and a fraction
        (("0.5", "1.5"), ("1234", "3"), "12.345", "4.5"),
        # past what 64-bit units of 10^-10 hold: the exact decimal way
        (("900000000000000", "1"), ("1", "2"), "9000000000000.01", "3"),
    ],
)
def test_integer_and_fractional_numbers_sum_exactly(
    fake: FakeMetronome,
    data: MetronomeDataset,
    clock: FakeClock,
    first: tuple[str, str],
    second: tuple[str, str],
    amount: str,
    quantity: str,
) -> None:
    customer = next(iter(data.customers))
    page = _one_window_page(customer, "Z", *first, second=second)
    fake.faults.append(Fault("body", customer_id=customer, value=page))
    source = make_source(fake, clock, customers=[customer])
    result = run_fetch(source, DAY0, DAY0 + timedelta(hours=1))
    assert result.errors == []
    [point] = result.points
    assert (point.amount, point.quantity) == (Decimal(amount), Decimal(quantity))


def test_table_rows_follow_the_chunks_not_the_order_they_finished() -> None:
    def chunk(start: int, cents: int) -> ChunkRows:
        line = ("usage", "GPU", cents, USD_CENTS.name, USD_CENTS.id, None, "p")
        return sum_chunk(
            [("inv", "c1", start, start + 3600, [line])],
            customer_id="c1",
            customer_name="Acme",
            start=0,
            end=86_400,
            step=3600,
            window="hour",
            types={"usage"},
        )

    rows = PollRows(3600)
    rows.add(chunk(3600, 250), 1)  # the second chunk answered first
    rows.add(chunk(0, 100), 0)
    table = rows.table()
    assert table.column("start").to_pylist() == [0, 3600]
    assert table.column("amount").to_pylist() == [Decimal("1.00"), Decimal("2.50")]
    assert table.column("quantity").null_count == 2


def test_source_hands_points_over_as_one_arrow_table(
    fake: FakeMetronome, data: MetronomeDataset, clock: FakeClock
) -> None:
    async def go() -> FetchResult:
        source = make_source(fake, clock)
        try:
            return await source.fetch(DAY0, DAY0 + timedelta(hours=48))
        finally:
            await source.aclose()

    result = asyncio.run(go())
    assert result.points == [] and result.table is not None
    assert result.n_points == 3 * 2 * 48
    table = result.table
    assert isinstance(table, pa.Table)
    assert table.schema.field("amount").type == pa.decimal128(38, 10)
    assert table.column("key").type == pa.dictionary(pa.int32(), pa.string())
    assert len(table.column("key").combine_chunks().dictionary) == 3 * 2  # one per series
    assert pc.all(pc.equal(pc.subtract(table.column("end"), table.column("start")), 3600)).as_py()
