"""DigitalOceanSource against the loopback fake: paging, chunks, limits, faults, revisions."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alerter.clock import FakeClock
from alerter.domain import Coverage, key_get
from alerter.errors import ConfigError, Unavailable
from alerter.rules.load import load_rule_file
from alerter.sources.base import FetchResult, SourceContext
from alerter.sources.digitalocean import DigitalOceanConfig, DigitalOceanSource
from alerter.sources.digitalocean_wire import DIMENSIONS, split_days
from alerter.sources.http import AuthRejected
from alerter.sources.ratelimit import RateGate
from tests.fakes.digitalocean import FakeDigitalOcean, Fault, iter_days

URN = "do:team:3f2a9c1e-7b4d-4e6a-9c8b-1d2e3f4a5b6c"
OTHER = "do:team:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
TOKEN = "dop_v1_secret-token-value"
NOW = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_fake(clock: FakeClock, **kwargs: object) -> FakeDigitalOcean:
    return FakeDigitalOcean(
        token=TOKEN,
        accounts=(URN, OTHER),
        now=lambda: clock.now().timestamp(),
        **kwargs,  # type: ignore[arg-type]
    )


def make_source(
    fake: FakeDigitalOcean, clock: FakeClock, **overrides: object
) -> DigitalOceanSource:
    fields: dict[str, object] = {
        "type": "digitalocean",
        "base_url": fake.base_url,
        "account_urns": (URN,),
    }
    fields.update(overrides)
    config = DigitalOceanConfig.model_validate(fields)
    context = SourceContext(clock=clock, env={"DIGITALOCEAN_TOKEN": TOKEN}, config_dir=Path("."))
    return DigitalOceanSource("do", config, context)


def fetch(source: DigitalOceanSource, since: datetime, until: datetime) -> FetchResult:
    async def go() -> FetchResult:
        try:
            return await source.fetch(since, until)
        finally:
            await source.aclose()

    return asyncio.run(go())


def reference_dataset(fake: FakeDigitalOcean) -> None:
    """The five points of the reference's examples A and B, in their order."""
    fake.add_point(URN, "2025-03-10", "0.86", description="web-01 (c-2-4GiB)")
    fake.add_point(
        URN,
        "2025-03-10",
        "2.57",
        sku="1-KS-K8SWN-00109",
        description="3 nodes - 4 GB / 2 vCPU / 80 GB SSD",
        group_description="prod-cluster",
    )
    fake.add_point(URN, "2025-03-11", "0.86", description="web-01 (c-2-4GiB)")
    fake.add_point(
        URN,
        "2025-03-11",
        "4.29",
        sku="1-KS-K8SWN-00109",
        description="5 nodes - 4 GB / 2 vCPU / 80 GB SSD",
        group_description="prod-cluster",
    )
    fake.add_point(URN, "2025-03-11", "0.43", region="sfo3", description="batch-07 (c-2-4GiB)")


def amounts_by(result: FetchResult, *dims: str) -> dict[tuple[str, ...], Decimal]:
    out: dict[tuple[str, ...], Decimal] = {}
    for p in result.points:
        k = (p.start.date().isoformat(), *(key_get(p.key, d) for d in dims))
        out[k] = out.get(k, Decimal(0)) + p.amount
    return out


# -- config -------------------------------------------------------------------


def test_config_defaults_and_limits() -> None:
    config = DigitalOceanConfig.model_validate({"type": "digitalocean", "account_urns": [URN]})
    assert config.base_url == "https://api.digitalocean.com"
    assert config.token_env == "DIGITALOCEAN_TOKEN"
    assert config.per_page == 200
    assert config.schedule == "1h"
    single = DigitalOceanConfig.model_validate({"type": "digitalocean", "account_urns": URN})
    assert single.account_urns == (URN,)
    assert config.lookback == timedelta(days=7)
    assert config.backfill == timedelta(days=56)
    bads: list[dict[str, object]] = [
        {"per_page": 0},
        {"per_page": 201},
        {"account_urns": []},
        {"account_urns": ["team-123"]},
        {"account_urns": [URN, URN]},
        {"token": "inline-secret"},
        {"base_url": "ftp://x"},
    ]
    for bad in bads:
        with pytest.raises(ValidationError):
            DigitalOceanConfig.model_validate(
                {"type": "digitalocean", "account_urns": [URN], **bad}
            )


def test_missing_token_names_the_variable() -> None:
    config = DigitalOceanConfig.model_validate(
        {"type": "digitalocean", "account_urns": [URN], "token_env": "DO_BILLING_TOKEN"}
    )
    context = SourceContext(clock=FakeClock(NOW), env={}, config_dir=Path("."))
    with pytest.raises(ConfigError, match="DO_BILLING_TOKEN"):
        DigitalOceanSource("do", config, context)


@pytest.mark.parametrize(
    ("since", "until", "today", "expected"),
    [
        ("2025-03-10", "2025-03-12", "2025-03-12", [("2025-03-10", "2025-03-11")]),
        ("2025-03-10T05:00", "2025-03-11T01:00", "2025-03-12", [("2025-03-10", "2025-03-11")]),
        ("2025-03-10", "2025-03-20", "2025-03-12", [("2025-03-10", "2025-03-12")]),
        ("2025-03-13", "2025-03-20", "2025-03-12", []),
        (
            "2025-01-01",
            "2025-02-26",
            "2025-03-12",
            [("2025-01-01", "2025-01-31"), ("2025-02-01", "2025-02-25")],
        ),
    ],
)
def test_split_days(since: str, until: str, today: str, expected: list[tuple[str, str]]) -> None:
    got = split_days(day(since), day(until), date.fromisoformat(today))
    assert [(a.isoformat(), b.isoformat()) for a, b in got] == expected
    assert all((b - a).days < 31 for a, b in got)


def test_example_rule_file_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    rules, problems = load_rule_file(root / "rules" / "digitalocean.toml", root)
    assert problems == []
    assert [r.name for r in rules] == ["do-team-daily-jump", "do-new-sku", "do-region-weekly-creep"]
    assert {r.source for r in rules} == {"digitalocean"}
    assert all(set(r.group_by) <= set(DIMENSIONS) for r in rules)


# -- fetching -----------------------------------------------------------------


def test_multi_page_walk_normalises_reference_example() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        result = fetch(make_source(fake, clock, per_page=3), day("2025-03-10"), day("2025-03-12"))
        pages = [(r.page, r.per_page) for r in fake.requests]
    assert pages == [(1, 3), (2, 3)]
    assert result.errors == []
    assert result.coverage == [
        Coverage(day("2025-03-10"), day("2025-03-12"), (("account_urn", URN),))
    ]
    assert len(result.points) == 5
    k8s = next(p for p in result.points if p.amount == Decimal("4.29"))
    assert dict(k8s.key) == {
        "account_urn": URN,
        "sku": "1-KS-K8SWN-00109",
        "region": "nyc3",
        "description": "5 nodes - 4 GB / 2 vCPU / 80 GB SSD",
        "group_description": "prod-cluster",
        "usage_team_urn": URN,
    }
    assert (k8s.start, k8s.end) == (day("2025-03-11"), day("2025-03-12"))
    assert k8s.currency == "USD"
    assert sum(p.amount for p in result.points) == Decimal("9.01")


def test_duplicate_items_in_one_series_are_summed_and_missing_fields_are_empty() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        fake.add_point(URN, "2025-03-10", "0.10")
        fake.add_point(URN, "2025-03-10", "0.20")
        fake.add_raw_point(URN, {"start_date": "2025-03-10", "total_amount": "1.5"})
        result = fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-11"))
    by_sku = {key_get(p.key, "sku"): p.amount for p in result.points}
    assert by_sku == {"1-DO-DROP-0109": Decimal("0.30"), "": Decimal("1.5")}
    bare = next(p for p in result.points if key_get(p.key, "sku") == "")
    assert key_get(bare.key, "account_urn") == URN
    assert key_get(bare.key, "usage_team_urn") == ""


def test_backfill_is_split_into_chunks_of_at_most_31_days() -> None:
    clock = FakeClock(datetime(2025, 3, 1, 3, tzinfo=UTC))
    with make_fake(clock) as fake:
        for d in iter_days("2025-01-04", "2025-02-28"):
            fake.add_point(URN, d, "1.00")
        source = make_source(fake, clock)
        result = fetch(source, day("2025-01-04"), day("2025-03-01"))
        spans = sorted((r.start_date, r.end_date) for r in fake.requests)
    assert spans == [("2025-01-04", "2025-02-03"), ("2025-02-04", "2025-02-28")]
    assert len(result.points) == 56
    assert sorted((c.start, c.end) for c in result.coverage) == [
        (day("2025-01-04"), day("2025-02-04")),
        (day("2025-02-04"), day("2025-03-01")),
    ]


def test_empty_range_is_covered_zero_not_missing() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        result = fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-12"))
    assert result.points == []
    assert result.errors == []
    # 03-10 ended over a day ago (publish_delay): no data is zero spend. 03-11 may simply
    # not be published yet, so with no data at all it stays unknown.
    assert result.coverage == [
        Coverage(day("2025-03-10"), day("2025-03-11"), (("account_urn", URN),))
    ]


def test_recent_days_are_covered_up_to_the_newest_data() -> None:
    clock = FakeClock(NOW)  # 2025-03-12 06:00
    with make_fake(clock) as fake:
        fake.add_point(URN, "2025-03-01", "1.00")
        fake.add_point(OTHER, "2025-03-12", "1.00")
        source = make_source(fake, clock, account_urns=(URN, OTHER))
        result = fetch(source, day("2025-03-01"), day("2025-03-13"))
    ends = {dict(c.scope)["account_urn"]: c.end for c in result.coverage}
    assert ends == {URN: day("2025-03-11"), OTHER: day("2025-03-13")}


def test_revised_estimates_are_seen_on_the_next_fetch() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        first = fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-12"))
        assert fake.revise(URN, "5.01", start_date="2025-03-11", sku="1-KS-K8SWN-00109") == 1
        second = fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-12"))
    before = amounts_by(first, "sku")
    after = amounts_by(second, "sku")
    assert before[("2025-03-11", "1-KS-K8SWN-00109")] == Decimal("4.29")
    assert after[("2025-03-11", "1-KS-K8SWN-00109")] == Decimal("5.01")
    assert after[("2025-03-10", "1-KS-K8SWN-00109")] == Decimal("2.57")


# -- faults -------------------------------------------------------------------


def test_429_retry_after_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(status=429, retry_after=29, page=2))
        with caplog.at_level(logging.WARNING):
            result = fetch(
                make_source(fake, clock, per_page=3), day("2025-03-10"), day("2025-03-12")
            )
        statuses = [(r.page, r.status) for r in fake.requests]
    assert statuses == [(1, 200), (2, 429), (2, 200)]
    assert 29.0 in clock.slept
    assert len(result.points) == 5
    assert "id=too_many_requests" in caplog.text


def test_hourly_429_without_retry_after_waits_for_ratelimit_reset() -> None:
    clock = FakeClock(NOW)
    reset = str(int(NOW.timestamp()) + 20)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(status=429, page=2, headers={"ratelimit-reset": reset}))
        result = fetch(make_source(fake, clock, per_page=3), day("2025-03-10"), day("2025-03-12"))
        statuses = [r.status for r in fake.requests]
        retried_at = fake.requests[-1].at
    assert statuses == [200, 429, 200]
    assert retried_at == int(reset)
    assert result.errors == []
    assert len(result.points) == 5


def test_hourly_429_with_a_far_reset_gives_up_the_chunk() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(status=429, page=2))  # reset: page 1 expires in an hour
        result = fetch(make_source(fake, clock, per_page=3), day("2025-03-10"), day("2025-03-12"))
        statuses = [r.status for r in fake.requests]
    assert statuses == [200, 429]
    assert result.points == []
    assert result.coverage == []
    assert len(result.errors) == 1
    assert "hourly rate limit" in result.errors[0]


def test_5xx_is_retried_and_error_body_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(status=500, request_id="req-77f0", times=2))
        fake.faults.append(Fault(disconnect=True))
        with caplog.at_level(logging.WARNING):
            result = fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-12"))
        statuses = [r.status for r in fake.requests]
    assert statuses == [500, 500, 0, 200]
    assert result.errors == []
    assert len(result.points) == 5
    assert "id=server_error" in caplog.text
    assert "request_id=req-77f0" in caplog.text


def test_persistent_5xx_fails_only_that_chunk() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.add_point(OTHER, "2025-03-10", "3.00")
        fake.faults.append(Fault(status=503, account_urn=URN, times=100))
        source = make_source(fake, clock, account_urns=(URN, OTHER))
        result = fetch(source, day("2025-03-10"), day("2025-03-12"))
    assert len(result.errors) == 1
    assert URN in result.errors[0]
    assert [c.scope for c in result.coverage] == [(("account_urn", OTHER),)]
    assert {key_get(p.key, "account_urn") for p in result.points} == {OTHER}


@pytest.mark.parametrize("bad", ["12.4.5", "NaN", "", "Infinity", "1e", "12,45", "$1"])
def test_malformed_amount_leaves_its_day_unknown_and_names_page_and_point(bad: str) -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.add_point(OTHER, "2025-03-10", "3.00")
        fake.faults.append(Fault(amount=bad, page=2, point_index=1, account_urn=URN))
        source = make_source(fake, clock, per_page=3, account_urns=(URN, OTHER))
        result = fetch(source, day("2025-03-10"), day("2025-03-12"))
    assert len(result.errors) == 1
    message = result.errors[0]
    assert "page 2" in message
    assert "data point 2" in message
    assert repr(bad) in message
    assert "day 2025-03-11" in message and "left unknown" in message
    # only the bad point's day of its account is lost: no points, no coverage there
    assert {p.start for p in result.points if key_get(p.key, "account_urn") == URN} == {
        day("2025-03-10")
    }
    assert [(c.scope, c.start, c.end) for c in result.coverage] == [
        ((("account_urn", URN),), day("2025-03-10"), day("2025-03-11")),
        ((("account_urn", OTHER),), day("2025-03-10"), day("2025-03-11")),
    ]


def test_missing_amount_loses_its_day_and_missing_date_the_chunk() -> None:
    clock = FakeClock(NOW)
    undated = (
        b'{"data_points": [{"total_amount": "1.00"}], "total_items": 1, '
        b'"total_pages": 1, "current_page": 1}'
    )
    with make_fake(clock) as fake:
        fake.add_point(URN, "2025-03-10", "1.00")
        fake.add_raw_point(URN, {"start_date": "2025-03-10", "sku": "X"})
        fake.faults.append(Fault(account_urn=OTHER, raw_body=undated))
        source = make_source(fake, clock, account_urns=(URN, OTHER))
        result = fetch(source, day("2025-03-10"), day("2025-03-11"))
    assert result.points == []
    assert result.coverage == []
    assert sorted(e.split(" page 1 ")[-1] for e in result.errors) == [
        "data point 1: start_date is not YYYY-MM-DD: None",
        f"data point 2: total_amount is not a decimal number: None (day 2025-03-10 of {URN} "
        "left unknown)",
    ]


def test_pagination_changing_mid_walk_is_walked_again() -> None:
    clock = FakeClock(NOW)

    def grow(fake: FakeDigitalOcean) -> None:
        fake.add_point(URN, "2025-03-11", "7.00", sku="1-NEW")

    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(page=2, mutate=grow))
        result = fetch(make_source(fake, clock, per_page=3), day("2025-03-10"), day("2025-03-12"))
        pages = [r.page for r in fake.requests]
    assert pages == [1, 2, 1, 2]
    assert result.errors == []
    assert len(result.points) == 6
    assert sum(p.amount for p in result.points) == Decimal("16.01")


def test_empty_page_before_the_last_is_walked_again() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(page=1, total_pages=3))
        fake.faults.append(Fault(page=2, empty=True))
        result = fetch(make_source(fake, clock, per_page=2), day("2025-03-10"), day("2025-03-12"))
        pages = [r.page for r in fake.requests]
    assert result.errors == []
    assert len(result.points) == 5
    assert pages[:2] == [1, 2]
    assert pages.count(1) == 2


def test_impossible_page_count_is_a_bad_response() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(page=1, total_pages=10**9))
        result = fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-12"))
        requests = len(fake.requests)
    assert requests == 1
    assert result.points == []
    assert result.errors == [
        f"source do: GET /v2/billing/{URN}/insights/2025-03-10/2025-03-11 page 1: "
        "1000000000 pages for 5 data points"
    ]


def test_pagination_that_never_settles_rejects_the_chunk() -> None:
    clock = FakeClock(NOW)
    counter = iter(range(1000))

    def grow(fake: FakeDigitalOcean) -> None:
        fake.add_point(URN, "2025-03-11", "1.00", sku=f"1-GROW-{next(counter)}")

    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(page=2, mutate=grow, times=100))
        result = fetch(
            make_source(fake, clock, per_page=3, max_walks=3),
            day("2025-03-10"),
            day("2025-03-12"),
        )
        walks = [r.page for r in fake.requests].count(1)
    assert walks == 3
    assert result.points == []
    assert result.coverage == []
    assert len(result.errors) == 1
    assert "pagination kept changing" in result.errors[0]


def test_bad_token_raises_unavailable_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        source = make_source(fake, clock)
        fake.token = "another-token"
        with caplog.at_level(logging.DEBUG), pytest.raises(Unavailable) as info:
            fetch(source, day("2025-03-10"), day("2025-03-12"))
    assert "DIGITALOCEAN_TOKEN" in str(info.value)
    assert TOKEN not in str(info.value)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(source)
    assert "id=unauthorized" in caplog.text


def test_forbidden_token_raises_auth_rejected() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        fake.faults.append(Fault(status=403, times=10))
        with pytest.raises(AuthRejected, match="HTTP 403") as info:
            fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-12"))
        statuses = [r.status for r in fake.requests]
    assert statuses == [403]  # never retried
    assert "DIGITALOCEAN_TOKEN" in str(info.value)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>502 Bad Gateway</html>", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (
            b'{"data_points": {}, "total_items": 0, "total_pages": 0, "current_page": 1}',
            "data_points",
        ),
        (
            b'{"data_points": [], "total_items": "5", "total_pages": 1, "current_page": 1}',
            "total_items",
        ),
        (
            b'{"data_points": [7], "total_items": 1, "total_pages": 1, "current_page": 1}',
            "data point 1",
        ),
    ],
)
def test_malformed_pages_reject_the_chunk(body: bytes, problem: str) -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.append(Fault(raw_body=body))
        result = fetch(make_source(fake, clock), day("2025-03-10"), day("2025-03-12"))
    assert result.points == []
    assert result.coverage == []
    assert len(result.errors) == 1
    assert problem in result.errors[0]
    assert f"/v2/billing/{URN}/insights/2025-03-10/2025-03-11" in result.errors[0]


def test_unknown_account_is_an_error_for_its_chunks_only() -> None:
    clock = FakeClock(NOW)
    missing = "do:team:99999999-9999-4999-8999-999999999999"
    with make_fake(clock) as fake:
        reference_dataset(fake)
        source = make_source(fake, clock, account_urns=(URN, missing))
        result = fetch(source, day("2025-03-10"), day("2025-03-12"))
    assert len(result.errors) == 1
    assert missing in result.errors[0]
    assert "404" in result.errors[0]
    assert len(result.points) == 5


# -- rate limits --------------------------------------------------------------


def test_burst_limit_is_respected_before_it_is_hit() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock, burst_limit=3) as fake:
        for d in ("2025-03-10", "2025-03-11"):
            for n in range(5):
                fake.add_point(URN, d, "1.00", sku=f"SKU-{n}")
        source = make_source(fake, clock, per_page=1, requests_per_minute=3)
        result = fetch(source, day("2025-03-10"), day("2025-03-12"))
        statuses = [r.status for r in fake.requests]
    assert statuses == [200] * 10
    assert len(result.points) == 10
    assert clock.now() - NOW >= timedelta(minutes=3)


def test_hourly_headers_are_respected_before_the_limit_is_hit() -> None:
    clock = FakeClock(NOW)
    with make_fake(clock, hourly_limit=4) as fake:
        for n in range(6):
            fake.add_point(URN, "2025-03-10", "1.00", sku=f"SKU-{n}")
        source = make_source(fake, clock, per_page=1)
        result = fetch(source, day("2025-03-10"), day("2025-03-11"))
        statuses = [r.status for r in fake.requests]
    assert statuses == [200] * 6
    assert len(result.points) == 6
    assert clock.now() - NOW >= timedelta(hours=1)


def test_rate_gate_waits_for_ratelimit_reset_at_zero_remaining() -> None:
    clock = FakeClock(NOW)
    gate = RateGate(clock, per_minute=250, per_hour=5000)
    reset = int(NOW.timestamp()) + 30
    gate.observe(httpx.Headers({"ratelimit-remaining": "0", "ratelimit-reset": str(reset)}))

    async def go() -> None:
        await gate.acquire("do")
        await gate.acquire("do")

    asyncio.run(go())
    assert clock.slept == [30.0]
    assert gate.waited == 30.0


# -- property: a chunk is all or nothing under any fault plan --------------------

FAULTS = st.one_of(
    st.builds(lambda p: Fault(status=500, page=p), st.integers(1, 3)),
    st.builds(
        lambda p, s: Fault(status=429, retry_after=s, page=p), st.integers(1, 3), st.integers(1, 30)
    ),
    st.builds(lambda p: Fault(disconnect=True, page=p), st.integers(1, 3)),
    st.builds(lambda p: Fault(empty=True, page=p), st.integers(1, 3)),
    st.builds(lambda p, n: Fault(total_pages=n, page=p), st.integers(1, 3), st.integers(0, 5)),
    st.builds(
        lambda p, a: Fault(amount=a, page=p),
        st.integers(1, 3),
        st.sampled_from(["1.2.3", "NaN", "7.5"]),
    ),
    st.builds(
        lambda p, n: Fault(
            page=p, mutate=lambda f: f.add_point(URN, "2025-03-11", "1.25", sku=f"1-ADDED-{n}")
        ),
        st.integers(1, 3),
        st.integers(0, 3),
    ),
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(plan=st.lists(FAULTS, max_size=6))
def test_any_fault_plan_gives_each_day_whole_or_nothing(plan: list[Fault]) -> None:
    clock = FakeClock(NOW)
    with make_fake(clock) as fake:
        reference_dataset(fake)
        fake.faults.extend(plan)
        result = fetch(make_source(fake, clock, per_page=2), day("2025-03-10"), day("2025-03-12"))
        final = fake.points(URN)
        statuses = {r.status for r in fake.requests}
    assert statuses <= {0, 200, 429, 500}
    covered = {
        (c.start + timedelta(days=n)).date().isoformat()
        for c in result.coverage
        for n in range((c.end - c.start).days)
    }
    # an unreadable point costs its day (named in errors), never a part of a day
    assert {pt.start.date().isoformat() for pt in result.points} <= covered
    expected: dict[tuple[str, str, str], Decimal] = {}
    for p in final:
        if p["start_date"] in covered:
            k = (p["start_date"], p["sku"], p["description"])
            expected[k] = expected.get(k, Decimal(0)) + Decimal(p["total_amount"])
    got = {
        (
            pt.start.date().isoformat(),
            key_get(pt.key, "sku"),
            key_get(pt.key, "description"),
        ): pt.amount
        for pt in result.points
    }
    # a faulted amount that is still a decimal ("7.5") is served as data, as the API would
    tampered = any(f.amount == "7.5" for f in plan)
    if not tampered:
        assert got == expected
    assert len(got) == len(expected)
    if not result.coverage:
        assert result.points == []
        assert len(result.errors) >= 1
