"""Hostile billing APIs (issue 11, findings 3, 4, 8, 9 and 15), acted out by the loopback
fakes: one bad value, page or peer affects only its own customer, account or chunk."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from alerter.clock import FakeClock
from alerter.domain import key_get
from alerter.errors import ConfigError, RateLimited
from alerter.money import parse_amount, to_decimal
from alerter.sources.base import FetchResult
from alerter.sources.http import JsonHttpClient, RetryPolicy
from alerter.sources.metronome import MetronomeSource
from alerter.sources.ratelimit import RateGate
from tests.fakes.digitalocean import Fault as DoFault
from tests.fakes.metronome import FakeMetronome, Fault
from tests.unit import test_digitalocean_source as do
from tests.unit import test_metronome_source as mtr

ABSURD = ["1" + "0" * 40, "1e308", "1e999999999", "1e400", "-1e15", "NaN"]


# -- finding 3: one absurd amount ------------------------------------------------------


@pytest.mark.parametrize("amount", ABSURD)
def test_metronome_absurd_amount_rejects_only_its_customer(amount: str) -> None:
    clock = FakeClock(mtr.NOW)
    data = mtr.make_dataset(3)
    bad = next(iter(data.customers.values()))
    with FakeMetronome(data, token=mtr.TOKEN, now=clock.now) as fake:
        fake.faults.append(Fault("amount", customer_id=bad.id, value=amount, times=None))
        source = mtr.make_source(fake, clock)
        result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=24))

    customers = {key_get(p.key, "customer_id") for p in result.points}
    assert bad.id not in customers and len(customers) == 2
    assert len(result.errors) == 1 and bad.id in result.errors[0]
    assert "total" in result.errors[0]
    assert all(abs(p.amount) < Decimal("1e15") for p in result.points)
    assert {c.scope[0][1] for c in result.coverage} == customers


@pytest.mark.parametrize("amount", ABSURD)
def test_digitalocean_absurd_amount_rejects_only_its_account(amount: str) -> None:
    clock = FakeClock(do.NOW)
    with do.make_fake(clock) as fake:
        fake.add_point(do.URN, "2025-03-10", "1.25", sku="SKU-OK")
        fake.add_point(do.OTHER, "2025-03-10", "2.50", sku="SKU-OK")
        fake.add_point(do.OTHER, "2025-03-10", amount, sku="SKU-BAD")
        fake.add_point(do.OTHER, "2025-03-10", amount, sku="SKU-BAD")  # summed, too
        source = do.make_source(fake, clock, account_urns=(do.URN, do.OTHER))
        result = do.fetch(source, do.day("2025-03-10"), do.day("2025-03-11"))

    assert [key_get(p.key, "account_urn") for p in result.points] == [do.URN]
    assert len(result.errors) == 1 and do.OTHER in result.errors[0]
    assert [c.scope for c in result.coverage] == [(("account_urn", do.URN),)]


def test_digitalocean_absurd_json_number_rejects_only_its_chunk() -> None:
    clock = FakeClock(do.NOW)
    with do.make_fake(clock) as fake:
        fake.add_point(do.URN, "2025-03-10", "1.25")
        fake.add_point(do.OTHER, "2025-03-10", "1.25")
        body = (
            b'{"data_points": [{"start_date": "2025-03-10", "total_amount": 1e999999999, '
            b'"sku": "x"}], "total_items": 1, "total_pages": 1, "current_page": 1}'
        )
        fake.faults.append(DoFault(account_urn=do.OTHER, raw_body=body))
        source = do.make_source(fake, clock, account_urns=(do.URN, do.OTHER))
        result = do.fetch(source, do.day("2025-03-10"), do.day("2025-03-11"))
    assert len(result.points) == 1 and len(result.errors) == 1


def test_amount_bounds_and_detection_values_never_overflow() -> None:
    for text in ABSURD:
        with pytest.raises(ValueError, match="amount"):
            parse_amount(text)
    assert parse_amount("999999999999999.99") == Decimal("999999999999999.99")
    assert to_decimal(1.7e308) > 0  # the largest floats quantize instead of raising
    with pytest.raises(ValueError, match="finite"):
        to_decimal(float("inf"))


# -- finding 4: a token with a trailing newline -------------------------------------------


def test_metronome_token_with_trailing_newline_is_stripped_and_works(caplog) -> None:
    clock = FakeClock(mtr.NOW)
    data = mtr.make_dataset(1)
    with FakeMetronome(data, token=mtr.TOKEN, now=clock.now) as fake:
        source = mtr.make_source(fake, clock, token=mtr.TOKEN + "\n")
        with caplog.at_level(logging.DEBUG):
            result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=2))
    assert result.errors == [] and result.points
    assert mtr.TOKEN not in caplog.text


@pytest.mark.parametrize("bad", ["tok\nen-value-123", "token value 123", "tökén-value-123"])
def test_a_token_with_bad_characters_is_refused_without_showing_it(bad: str) -> None:
    clock = FakeClock(mtr.NOW)
    with (
        FakeMetronome(mtr.make_dataset(1), token=mtr.TOKEN) as fake,
        pytest.raises(ConfigError) as caught,
    ):
        mtr.make_source(fake, clock, token=bad)
    message = str(caught.value)
    assert "METRONOME_BEARER_TOKEN" in message
    assert "value" not in message.replace("the value is not shown", "")
    assert "tok" not in message.replace("token", "")


def test_redact_covers_the_forms_a_token_takes_in_messages() -> None:
    secret = "ab/c+d\n"
    client = JsonHttpClient(
        source="s",
        base_url="http://127.0.0.1:1",
        token=SecretStr(secret),
        token_env="T",
        clock=FakeClock(mtr.NOW),
    )
    text = f"raw={secret} repr={secret!r} quoted=ab%2Fc%2Bd%0A stripped=ab/c+d"
    assert "ab" not in client.redact(text)


# -- finding 8: a trickled body ------------------------------------------------------------


def test_metronome_trickled_page_hits_the_request_deadline() -> None:
    clock = FakeClock(mtr.NOW)
    data = mtr.make_dataset(2)
    slow = next(iter(data.customers.values()))
    with FakeMetronome(data, token=mtr.TOKEN, now=clock.now) as fake:
        fake.faults.append(Fault("trickle", customer_id=slow.id, delay=0.05, times=None))
        source = mtr.make_source(fake, clock, timeout="1s", max_attempts=1)
        result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=2))
    assert len(result.errors) == 1 and slow.id in result.errors[0]
    assert "deadline" in result.errors[0]
    assert {key_get(p.key, "customer_id") for p in result.points} == set(data.customers) - {slow.id}


# -- finding 9: unbounded waits and pages, body size ----------------------------------------


def test_digitalocean_reset_years_away_is_not_waited_for() -> None:
    clock = FakeClock(do.NOW)
    years = str(int(do.NOW.timestamp()) + 3 * 365 * 86400)
    with do.make_fake(clock) as fake:
        fake.add_point(do.URN, "2025-03-10", "1.00", sku="A")
        fake.add_point(do.URN, "2025-03-10", "1.00", sku="B")
        fake.faults.append(DoFault(headers={"ratelimit-remaining": "0", "ratelimit-reset": years}))
        source = do.make_source(fake, clock, per_page=1)
        result = do.fetch(source, do.day("2025-03-10"), do.day("2025-03-11"))
    assert clock.now() - do.NOW < timedelta(hours=2)
    assert len(result.errors) == 1 and "ratelimit-reset" in result.errors[0]


def test_rate_gate_raises_instead_of_waiting_past_its_cap() -> None:
    clock = FakeClock(do.NOW)
    gate = RateGate(clock, per_minute=250, per_hour=5000, max_wait=60)
    reset = int(do.NOW.timestamp()) + 10**8
    gate.observe(httpx.Headers({"ratelimit-remaining": "0", "ratelimit-reset": str(reset)}))
    with pytest.raises(RateLimited, match="ratelimit-reset"):
        asyncio.run(gate.acquire("do"))
    assert clock.now() == do.NOW


def test_digitalocean_total_pages_over_the_cap_rejects_the_chunk() -> None:
    clock = FakeClock(do.NOW)
    with do.make_fake(clock) as fake:
        body = (
            b'{"data_points": [{"start_date": "2025-03-10", "total_amount": "1", "sku": "x"}],'
            b' "total_items": 10000000, "total_pages": 1000000, "current_page": 1}'
        )
        fake.faults.append(DoFault(raw_body=body, times=1))
        source = do.make_source(fake, clock, per_page=10)
        result = do.fetch(source, do.day("2025-03-10"), do.day("2025-03-11"))
        requests = len(fake.requests)
    assert requests == 1
    assert len(result.errors) == 1 and "more than 1000" in result.errors[0]


def test_a_body_over_the_size_cap_is_a_bad_response() -> None:
    clock = FakeClock(mtr.NOW)
    data = mtr.make_dataset(1)
    with FakeMetronome(data, token=mtr.TOKEN, now=clock.now) as fake:
        fake.faults.append(Fault("padded", endpoint="breakdowns", value="200000", times=None))
        source = mtr.make_source(fake, clock)
        source.client._max_body = 100_000
        result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=2))
    assert len(result.errors) == 1 and "larger than 100000 bytes" in result.errors[0]


def test_retry_after_that_is_not_a_number_of_seconds_is_ignored() -> None:
    from alerter.sources.http import parse_retry_after

    for raw in ("nan", "inf", "Fri, 31 Dec 9999 23:59:59 GMT", "-1"):
        value = parse_retry_after(httpx.Headers({"retry-after": raw}), mtr.NOW)
        assert value is None or value >= 0
    policy = RetryPolicy()
    assert policy.max_retry_after == 60.0


# -- finding 15: unknown line item types ------------------------------------------------------


def test_unknown_line_item_types_warn_once_per_type_per_cycle_and_count(caplog) -> None:
    clock = FakeClock(mtr.NOW)
    data = mtr.make_dataset(2)
    with FakeMetronome(data, token=mtr.TOKEN, now=clock.now) as fake:
        fake.faults.append(Fault("line_type", value="usage_v2", times=None))
        source = mtr.make_source(fake, clock)

        async def two_cycles() -> list[object]:
            try:
                return [
                    await source.fetch(mtr.DAY0, mtr.DAY0 + timedelta(hours=48)),
                    await source.fetch(mtr.DAY0, mtr.DAY0 + timedelta(hours=48)),
                ]
            finally:
                await source.aclose()

        with caplog.at_level(logging.WARNING, logger="alerter.sources.metronome"):
            results = asyncio.run(two_cycles())
    warnings = [r for r in caplog.records if "metronome_line_items_skipped" in r.getMessage()]
    assert len(warnings) == 2  # one per cycle, though 2 customers x 2 days had them
    assert "type=usage_v2" in warnings[0].getMessage()
    assert isinstance(source, MetronomeSource)
    assert source.skipped_line_items["usage_v2"] > 0
    last = results[-1]
    assert isinstance(last, FetchResult)
    assert last.skipped["line_item_type=usage_v2"] * 2 == source.skipped_line_items["usage_v2"]


def test_a_malformed_customer_entry_costs_only_itself() -> None:
    import json

    clock = FakeClock(mtr.NOW)
    data = mtr.make_dataset(2)
    first, second = data.customers.values()
    listing = {
        "data": [
            {"id": first.id, "name": first.name},
            {"id": 7, "name": "no usable id"},
            {"id": second.id, "name": {"not": "a string"}},
            {"id": first.id, "name": "listed twice"},
        ],
        "next_page": None,
    }
    with FakeMetronome(data, token=mtr.TOKEN, now=clock.now) as fake:
        fake.faults.append(Fault("body", endpoint="customers", value=json.dumps(listing)))
        source = mtr.make_source(fake, clock)
        result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=2))
        polled = {r.customer_id for r in fake.breakdown_requests()}

    assert polled == {first.id, second.id}  # each once, the bad name polled anyway
    assert {key_get(p.key, "customer_id") for p in result.points} == {first.id, second.id}
    assert len(result.errors) == 1 and "entry 2" in result.errors[0]
